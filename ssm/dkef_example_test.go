package ssm_test

import (
	"context"
	"fmt"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/ssm"
)

// ExampleTrainDKEF trains a deep kernel exponential family by sliced score
// matching (variance-reduced) on a 2-D Gaussian mixture: α is fitted in
// closed form on each step's fit half, early stopping watches the
// validation rows, and a second stage tunes λ alone.
func ExampleTrainDKEF() {
	mixture := func(n int, part uint64) ad.Mat {
		x, r := ad.NewMat(n, 2), repro.New(7, repro.Data, 2, part)
		for i := range n {
			x.Set(i, 0, float64(3*r.IntN(2))-1.5+0.5*repro.Normal(r))
			x.Set(i, 1, 0.5*repro.Normal(r))
		}
		return x
	}
	train, val := mixture(300, 0), mixture(200, 1)
	// 40 inducing points, the first training rows; feature nets of width 10.
	model, err := nn.NewDKEF(nn.DKEFConfig{Dim: 2, Inducing: 40, Features: 10}, train.RowRange(0, 40).Clone(), repro.New(1, repro.Init, 0, 0))
	if err != nil {
		fmt.Println(err)
		return
	}
	obj, err := ssm.New("ssm-vr", model, ssm.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := ssm.TrainDKEF(context.Background(), obj, train, val, ssm.DKEFConfig{Half: 50, Steps: 20, Seed: 3, EvalEvery: 5, LambdaSteps: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d steps (%s), validated at steps %v, %d second-stage steps\n", res.Steps, res.Stopped, res.ValSteps, len(res.LambdaLoss))
	fmt.Println("validation exact SM lower than untrained:", res.ValSM[len(res.ValSM)-1] < res.ValSM[0])
	// Output:
	// 20 steps (steps), validated at steps [0 5 10 15 20], 10 second-stage steps
	// validation exact SM lower than untrained: true
}
