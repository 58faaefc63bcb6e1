//go:build race

package ssm

const raceEnabled = true
