module scorematch

go 1.26
