package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/sampler"
	"scorematch/ssm/implicit"
)

func init() {
	register("vae", "train a VAE with an implicit encoder (entropy by score estimation) and report its test NLL by AIS", func(ctx context.Context, e *env, args []string) error {
		return runAutoEnc(ctx, e, "vae", args)
	})
	register("wae", "train a Wasserstein auto-encoder (KL to the prior by score estimation) and report its test NLL by AIS", func(ctx context.Context, e *env, args []string) error {
		return runAutoEnc(ctx, e, "wae", args)
	})
}

// Bounds of the auto-encoders' flags.
const (
	maxAERows     = 10_000_000 // -n, -test-n
	maxAEZ        = 1024       // -z
	maxAEChains   = 1 << 16    // -ais-chains
	maxAETemps    = 1 << 20    // -ais-temps
	maxAEKernelK  = 4096       // -k
	aeFormatValue = "scorematch-autoencoder"
)

// aeFlags are the settings of ssm vae and ssm wae.
type aeFlags struct {
	cmd                             string
	data, entropy, enc, dec, score  string
	out, report, checkpoint         string
	resume                          bool
	n, testN, z, steps, batch       int
	every, k, aisChains, aisTemps   int
	lr, lambda                      float64
	seed                            uint64
	binarize                        bool
	encHidden, decHidden, scoreHide []int
}

func parseAutoEnc(e *env, cmd string, args []string) (*aeFlags, error) {
	fs := newFlags(cmd, cmd+" -data FILE [flags]", e.stdout)
	f := &aeFlags{cmd: cmd}
	entropies := implicit.EntropyNames()
	if cmd == "wae" {
		entropies = slices.DeleteFunc(entropies, func(s string) bool { return s == "gaussian" })
	}
	fs.StringVar(&f.data, "data", "", "training and test rows in [0, 1]: an IDX image `file` (bytes scaled to [0, 1]), .csv or .npy")
	fs.IntVar(&f.n, "n", 1000, "training rows (the file's first)")
	fs.IntVar(&f.testN, "test-n", 100, "held-out rows after the training rows, for the test NLL")
	fs.IntVar(&f.z, "z", 8, "latent dimension")
	fs.StringVar(&f.entropy, "entropy", "sse", "entropy term: "+strings.Join(entropies, ", "))
	if cmd == "wae" {
		fs.Float64Var(&f.lambda, "lambda", 1, "weight λ > 0 of the KL of the codes to the prior")
	}
	fs.StringVar(&f.enc, "enc", "256,256", "hidden widths of the encoder")
	fs.StringVar(&f.dec, "dec", "256,256", "hidden widths of the decoder")
	fs.StringVar(&f.score, "score-hidden", "256,256", "hidden widths of the score net (entropy sse)")
	fs.IntVar(&f.k, "k", 100, "samples of z per x of the kernel estimators (vae, entropy stein or ssge)")
	fs.IntVar(&f.steps, "steps", 1000, "training steps")
	fs.IntVar(&f.batch, "batch", 100, "batch size")
	fs.Float64Var(&f.lr, "lr", 1e-3, "Adam's learning rate")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed")
	fs.BoolVar(&f.binarize, "binarize", true, "binarise the training batches dynamically and the test rows once")
	fs.IntVar(&f.every, "every", 100, "progress line on stderr (and checkpoint) every this many steps (0: at the end only)")
	fs.StringVar(&f.out, "out", "", "write the weights and settings to this .safetensors `file`")
	fs.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint .safetensors `file`, written atomically every -every steps and on interruption")
	fs.BoolVar(&f.resume, "resume", false, "resume from -checkpoint if it exists (the training settings must be the same)")
	fs.StringVar(&f.report, "report", "", "write the settings and results to this .json `file`")
	fs.IntVar(&f.aisChains, "ais-chains", 16, "AIS chains per test row")
	fs.IntVar(&f.aisTemps, "ais-temps", 500, "AIS temperatures")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	set := setFlags(fs)
	if f.data == "" {
		return nil, badInput("-data: want a file of rows in [0, 1]")
	}
	if !slices.Contains(entropies, f.entropy) {
		return nil, badInput("-entropy %q: want one of %s", f.entropy, strings.Join(entropies, ", "))
	}
	var err error
	if f.encHidden, err = parseWidths("-enc", f.enc); err != nil {
		return nil, err
	}
	if f.decHidden, err = parseWidths("-dec", f.dec); err != nil {
		return nil, err
	}
	if f.scoreHide, err = parseWidths("-score-hidden", f.score); err != nil {
		return nil, err
	}
	if err := firstError(
		intIn("-n", f.n, 1, maxAERows), intIn("-test-n", f.testN, 1, maxAERows),
		intIn("-z", f.z, 1, maxAEZ), intIn("-steps", f.steps, 1, maxSteps),
		intIn("-batch", f.batch, 1, maxBatch), intIn("-every", f.every, 0, maxSteps),
		intIn("-k", f.k, 2, maxAEKernelK),
		intIn("-ais-chains", f.aisChains, 2, maxAEChains), intIn("-ais-temps", f.aisTemps, 1, maxAETemps),
		positive("-lr", f.lr, "learning rate"),
	); err != nil {
		return nil, err
	}
	if f.batch > f.n {
		return nil, badInput("-batch %d: more than the -n %d training rows", f.batch, f.n)
	}
	if cmd == "wae" {
		if err := positive("-lambda", f.lambda, "weight"); err != nil {
			return nil, err
		}
	}
	if err := unusedFlags(set, func(n string) bool {
		switch n {
		case "score-hidden":
			return f.entropy == "sse"
		case "k":
			return cmd == "vae" && (f.entropy == "stein" || f.entropy == "ssge")
		}
		return true
	}, func(n string) string {
		if n == "k" && cmd == "wae" {
			return "the wae's kernel estimators use all the batch's codes"
		}
		return fmt.Sprintf("not read with -entropy %s", f.entropy)
	}); err != nil {
		return nil, err
	}
	outs := map[string]string{}
	if f.out != "" {
		if err := checkOutput("-out", f.out, e.outPath(f.out), ".safetensors"); err != nil {
			return nil, err
		}
		outs["-out"] = e.outPath(f.out)
	}
	if f.resume && f.checkpoint == "" {
		return nil, badInput("-resume needs -checkpoint")
	}
	if f.checkpoint != "" {
		if err := checkOutput("-checkpoint", f.checkpoint, e.outPath(f.checkpoint), ".safetensors"); err != nil {
			return nil, err
		}
		outs["-checkpoint"] = e.outPath(f.checkpoint)
	}
	if f.report != "" {
		if err := checkOutput("-report", f.report, e.outPath(f.report), ".json"); err != nil {
			return nil, err
		}
		outs["-report"] = e.outPath(f.report)
	}
	if err := checkDistinct(outs); err != nil {
		return nil, err
	}
	return f, nil
}

// parseWidths parses a comma-separated list of hidden widths.
func parseWidths(flag, s string) ([]int, error) {
	var ws []int
	for _, w := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || v < 1 || v > maxWidth {
			return nil, badInput("%s %q: hidden width %q is not an integer from 1 to %d", flag, s, w, maxWidth)
		}
		ws = append(ws, v)
	}
	if len(ws) > maxLayers {
		return nil, badInput("%s %q: %d hidden layers, at most %d", flag, s, len(ws), maxLayers)
	}
	return ws, nil
}

// aeModel is a built auto-encoder with its settings.
type aeModel struct {
	f   *aeFlags
	m   implicit.AutoEncoder
	dec *implicit.BernoulliDecoder
	wae *implicit.WAE
}

// build returns the auto-encoder the flags describe for xdim inputs.
func (f *aeFlags) build(xdim int) (*aeModel, error) {
	est := implicit.Config{Hidden: f.scoreHide, LR: f.lr, K: f.k}
	if f.cmd == "vae" {
		v, err := implicit.NewVAE(implicit.VAEConfig{XDim: xdim, ZDim: f.z, Entropy: f.entropy,
			EncHidden: f.encHidden, DecHidden: f.decHidden, Seed: f.seed, Estimator: est})
		if err != nil {
			return nil, asInput(err)
		}
		return &aeModel{f: f, m: v, dec: v.Decoder}, nil
	}
	w, err := implicit.NewWAE(implicit.WAEConfig{XDim: xdim, ZDim: f.z, Entropy: f.entropy, Lambda: f.lambda,
		EncHidden: f.encHidden, DecHidden: f.decHidden, Seed: f.seed, Estimator: est})
	if err != nil {
		return nil, asInput(err)
	}
	return &aeModel{f: f, m: w, dec: w.Decoder, wae: w}, nil
}

// aeData reads the rows and splits them into training and test rows.
func (f *aeFlags) aeData() (train, test ad.Mat, err error) {
	if _, err := sampler.LookupDataset(f.data); err == nil {
		return ad.Mat{}, ad.Mat{}, badInput("-data %s: a built-in dataset; want a file of rows in [0, 1]", f.data)
	}
	x, _, err := loadData("data", f.data, 0, 0)
	if err != nil {
		return ad.Mat{}, ad.Mat{}, err
	}
	if x.Rows < f.n+f.testN {
		return ad.Mat{}, ad.Mat{}, badInput("-data %s: %d rows, fewer than -n %d plus -test-n %d", f.data, x.Rows, f.n, f.testN)
	}
	for i, v := range x.Data[:(f.n+f.testN)*x.Cols] {
		if v < 0 || v > 1 {
			return ad.Mat{}, ad.Mat{}, badInput("-data %s: row %d column %d is %v, want values in [0, 1]", f.data, i/x.Cols+1, i%x.Cols+1, v)
		}
	}
	train = x.RowRange(0, f.n).Clone()
	test = x.RowRange(f.n, f.n+f.testN).Clone()
	if f.binarize {
		// the test rows are binarised once, from streams of their own.
		for r := range test.Rows {
			rng := repro.New(f.seed, repro.Binarize, math.MaxUint64, uint64(r))
			row := test.Row(r)
			for j, p := range row {
				if rng.Float64() < p {
					row[j] = 1
				} else {
					row[j] = 0
				}
			}
		}
	}
	return train, test, nil
}

func runAutoEnc(ctx context.Context, e *env, cmd string, args []string) error {
	f, err := parseAutoEnc(e, cmd, args)
	if err != nil {
		return err
	}
	train, test, err := f.aeData()
	if err != nil {
		return err
	}
	am, err := f.build(train.Cols)
	if err != nil {
		return err
	}
	last, err := am.train(ctx, e, train)
	if err != nil {
		return err
	}
	if f.out != "" {
		if err := am.save(e.outPath(f.out), train.Cols); err != nil {
			return err
		}
	}
	res, err := am.nll(test)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, nllLine(res, f.aisChains, f.aisTemps))
	report := map[string]any{"command": cmd, "data": f.data, "n": f.n, "test_n": f.testN, "z": f.z,
		"entropy": f.entropy, "enc": f.encHidden, "dec": f.decHidden, "steps": f.steps, "batch": f.batch,
		"lr": f.lr, "seed": f.seed, "binarize": f.binarize, "ais_chains": f.aisChains, "ais_temps": f.aisTemps,
		"test_nll": res.NLL, "test_nll_se": res.StdErr, "test_nll_test_se": finiteOrNil(res.TestStdErr), "test_nll_min_ess": res.MinESS, "recon": finiteOrNil(last.Recon), "prior": finiteOrNil(last.Prior)}
	if cmd == "wae" {
		report["lambda"] = f.lambda
		codes := am.wae.Encode(test)
		if codes.Rows >= 2 {
			mmd := implicit.PriorMMD(codes, 0, f.seed)
			fmt.Fprintf(e.stdout, "codes' MMD² to the prior  %.4g  (bandwidth %.3g, %d test rows)\n", mmd.MMD2, mmd.Bandwidth, codes.Rows)
			report["mmd2"] = mmd.MMD2
		}
	}
	if f.report != "" {
		return writeJSON(e.outPath(f.report), report)
	}
	return nil
}

// finiteOrNil returns v, or nil for NaN and ±Inf (JSON has no such values).
func finiteOrNil(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// stepLine formats a step's measurements.
func stepLine(s implicit.StepStats) string {
	line := fmt.Sprintf("recon %.4f  prior %.4f", s.Recon, s.Prior)
	if !math.IsNaN(s.KL) {
		line += fmt.Sprintf("  kl %.4f", s.KL)
	}
	if !math.IsNaN(s.ScoreLoss) {
		line += fmt.Sprintf("  score-loss %.4g", s.ScoreLoss)
	}
	return line
}

// nllLine is the line that reports a test NLL by AIS with two error bars:
// the test-set standard error, sd of the rows' NLLs over √rows (what a
// results table needs, from two rows on), and the AIS Monte Carlo error.
// As eval does for log Z, it gives the AIS error only when every row's
// weights carry enough effective chains (minAISESS, and minAISFrac of the
// chains); otherwise it says the estimate is likely too high (AIS's log p̂
// is biased low) and how to improve it.
func nllLine(r implicit.NLLResult, chains, temps int) string {
	rows := len(r.Rows)
	what := fmt.Sprintf("AIS, %d rows, %d chains, %d temperatures; min ESS %.1f", rows, chains, temps, r.MinESS)
	if rows >= 2 {
		what = fmt.Sprintf("test-set standard error %.4f; %s", r.TestStdErr, what)
	}
	if r.MinESS >= max(minAISESS, minAISFrac*float64(chains)) {
		return fmt.Sprintf("test NLL  %.4f ± %.4f nats by AIS  (%s)", r.NLL, r.StdErr, what)
	}
	return fmt.Sprintf("test NLL  %.4f nats  (%s: too few effective chains for an AIS error bar; likely too high, raise -ais-temps or -ais-chains)", r.NLL, what)
}

// nll estimates the test NLL of the model's decoder by AIS, started from
// a Laplace approximation of each row's posterior at its code (the wae's
// encoder output; one draw of the vae's encoder).
func (am *aeModel) nll(test ad.Mat) (implicit.NLLResult, error) {
	var start ad.Mat
	switch m := am.m.(type) {
	case *implicit.WAE:
		start = m.Encode(test)
	case *implicit.VAE:
		start = m.Encode(test, am.f.seed+1000, 0)
	}
	return implicit.NLL(am.dec, test, sampler.AIS{Temps: am.f.aisTemps, Chains: am.f.aisChains,
		Step: 0.1, Leapfrog: 5, Seed: am.f.seed + 1000}, start)
}

// save writes the model's parameters and the settings that rebuild it.
func (am *aeModel) save(path string, xdim int) error {
	var ts []nn.Tensor
	for _, p := range am.m.NamedParams() {
		ts = append(ts, nn.Tensor{Name: p.Name, Shape: []int{p.Value.Rows, p.Value.Cols}, Data: p.Value.Data})
	}
	meta := map[string]string{
		"format": aeFormatValue, "kind": am.f.cmd, "xdim": strconv.Itoa(xdim), "z": strconv.Itoa(am.f.z),
		"entropy": am.f.entropy, "enc": am.f.enc, "dec": am.f.dec, "score-hidden": am.f.score,
		"k": strconv.Itoa(am.f.k), "lr": strconv.FormatFloat(am.f.lr, 'g', -1, 64),
		"lambda": strconv.FormatFloat(am.f.lambda, 'g', -1, 64), "seed": strconv.FormatUint(am.f.seed, 10),
		"n": strconv.Itoa(am.f.n), "test-n": strconv.Itoa(am.f.testN), "binarize": strconv.FormatBool(am.f.binarize),
		"ais-chains": strconv.Itoa(am.f.aisChains), "ais-temps": strconv.Itoa(am.f.aisTemps),
	}
	return nn.WriteSafetensors(path, ts, meta)
}

// loadAutoEnc rebuilds an auto-encoder saved by save.
func loadAutoEnc(path string) (*aeModel, error) {
	ts, meta, err := nn.ReadSafetensors(path)
	if err != nil {
		return nil, asInput(err)
	}
	if meta["format"] != aeFormatValue {
		return nil, badInput("%s: not an auto-encoder file of ssm vae or ssm wae", path)
	}
	f := &aeFlags{cmd: meta["kind"], entropy: meta["entropy"], enc: meta["enc"], dec: meta["dec"], score: meta["score-hidden"]}
	bad := func() (*aeModel, error) { return nil, badInput("%s: bad auto-encoder metadata", path) }
	xdim, err1 := strconv.Atoi(meta["xdim"])
	z, err2 := strconv.Atoi(meta["z"])
	k, err3 := strconv.Atoi(meta["k"])
	lr, err4 := strconv.ParseFloat(meta["lr"], 64)
	lambda, err5 := strconv.ParseFloat(meta["lambda"], 64)
	seed, err6 := strconv.ParseUint(meta["seed"], 10, 64)
	if firstError(err1, err2, err3, err4, err5, err6) != nil || (f.cmd != "vae" && f.cmd != "wae") {
		return bad()
	}
	n, err7 := strconv.Atoi(meta["n"])
	testN, err8 := strconv.Atoi(meta["test-n"])
	binarize, err9 := strconv.ParseBool(meta["binarize"])
	chains, err10 := strconv.Atoi(meta["ais-chains"])
	temps, err11 := strconv.Atoi(meta["ais-temps"])
	if firstError(err7, err8, err9, err10, err11) != nil || n < 1 || testN < 1 || chains < 2 || temps < 1 {
		return bad()
	}
	f.z, f.k, f.lr, f.lambda, f.seed = z, k, lr, lambda, seed
	f.n, f.testN, f.binarize, f.aisChains, f.aisTemps = n, testN, binarize, chains, temps
	if f.encHidden, err = parseWidths("enc", f.enc); err != nil {
		return bad()
	}
	if f.decHidden, err = parseWidths("dec", f.dec); err != nil {
		return bad()
	}
	if f.scoreHide, err = parseWidths("score-hidden", f.score); err != nil {
		return bad()
	}
	am, err := f.build(xdim)
	if err != nil {
		return nil, badInput("%s: %v", path, err)
	}
	if !setParams(am.m.NamedParams(), ts) {
		return nil, badInput("%s: the weights do not match the recorded architecture", path)
	}
	return am, nil
}

// train fits the model in segments of -every steps, writing the checkpoint
// after each and on interruption, and resumes from it with -resume.
func (am *aeModel) train(ctx context.Context, e *env, train ad.Mat) (implicit.Progress, error) {
	f := am.f
	start := 0
	ckpt := e.outPath(f.checkpoint)
	if f.resume {
		s, err := am.restore(ckpt)
		if err != nil {
			return implicit.Progress{}, err
		}
		if s >= f.steps {
			return implicit.Progress{}, badInput("-resume: %s is at step %d, not before -steps %d", f.checkpoint, s, f.steps)
		}
		if s > 0 {
			fmt.Fprintf(e.stderr, "resuming from %s at step %d\n", f.checkpoint, s)
		}
		start = s
	}
	seg := f.steps
	if f.every > 0 {
		seg = f.every
	}
	var last implicit.Progress
	for s := start; s < f.steps; {
		if ctx.Err() != nil {
			if f.checkpoint != "" {
				if err := am.checkpoint(ckpt, s); err != nil {
					return last, err
				}
				fmt.Fprintf(e.stderr, "checkpoint written to %s at step %d; rerun with -resume to continue\n", f.checkpoint, s)
			}
			return last, errInterrupted
		}
		n := min(seg, f.steps-s)
		var err error
		last, err = implicit.Fit(am.m, train, implicit.FitConfig{Steps: n, Start: s, Batch: f.batch, LR: f.lr,
			Seed: f.seed, Binarize: f.binarize})
		if err != nil {
			return last, err
		}
		s += n
		if f.every > 0 {
			fmt.Fprintf(e.stderr, "step %d/%d  %s\n", s, f.steps, stepLine(last.StepStats))
		}
		if f.checkpoint != "" {
			if err := am.checkpoint(ckpt, s); err != nil {
				return last, err
			}
		}
	}
	return last, nil
}

// trainSettings are the flags a checkpoint records: a resumed run must
// give the same.
func (f *aeFlags) trainSettings() map[string]string {
	m := map[string]string{
		"data": f.data, "n": strconv.Itoa(f.n), "z": strconv.Itoa(f.z), "entropy": f.entropy,
		"enc": f.enc, "dec": f.dec, "batch": strconv.Itoa(f.batch),
		"lr": strconv.FormatFloat(f.lr, 'g', -1, 64), "seed": strconv.FormatUint(f.seed, 10),
		"binarize": strconv.FormatBool(f.binarize),
	}
	if f.entropy == "sse" {
		m["score-hidden"] = f.score
	}
	if f.cmd == "vae" && f.entropy != "sse" && f.entropy != "gaussian" {
		m["k"] = strconv.Itoa(f.k)
	}
	if f.cmd == "wae" {
		m["lambda"] = strconv.FormatFloat(f.lambda, 'g', -1, 64)
	}
	return m
}

// scoreState returns the learnt estimator's net, optimiser and update
// counter access, or nils for the kernel estimators.
func (am *aeModel) scoreState() (params []*ad.Param, opt nn.Optimizer, updates func() uint64, set func(uint64)) {
	switch m := am.m.(type) {
	case *implicit.VAE:
		if s, ok := m.Estimator.(*implicit.SSE); ok {
			return s.Net.Params(), s.Opt, s.Updates, s.SetUpdates
		}
	case *implicit.WAE:
		if s, ok := m.Score.(*implicit.CodeSSE); ok {
			return s.Net.Params(), s.Opt, s.Updates, s.SetUpdates
		}
	}
	return nil, nil, nil, nil
}

// checkpoint writes the training state after step steps.
func (am *aeModel) checkpoint(path string, step int) error {
	var ts []nn.Tensor
	add := func(prefix string, t nn.Tensor) {
		t.Name = prefix + t.Name
		ts = append(ts, t)
	}
	for _, p := range am.m.NamedParams() {
		add("model.", nn.Tensor{Name: p.Name, Shape: []int{p.Value.Rows, p.Value.Cols}, Data: p.Value.Data})
	}
	for _, t := range am.m.Optimizer().State() {
		add("opt.", t)
	}
	meta := map[string]string{"format": "scorematch-autoencoder-checkpoint", "command": am.f.cmd, "step": strconv.Itoa(step)}
	if params, opt, updates, _ := am.scoreState(); params != nil {
		for _, p := range params {
			add("score.", nn.Tensor{Name: p.Name, Shape: []int{p.Value.Rows, p.Value.Cols}, Data: p.Value.Data})
		}
		for _, t := range opt.State() {
			add("score-opt.", t)
		}
		meta["score-updates"] = strconv.FormatUint(updates(), 10)
	}
	for k, v := range am.f.trainSettings() {
		meta["flag."+k] = v
	}
	return nn.WriteSafetensors(path, ts, meta)
}

// restore loads the checkpoint at path, if it exists, into the model and
// returns its step (0 when there is no file).
func (am *aeModel) restore(path string) (int, error) {
	f := am.f
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	ts, meta, err := nn.ReadSafetensors(path)
	if err != nil {
		return 0, asInput(err)
	}
	step, err := strconv.Atoi(meta["step"])
	if meta["format"] != "scorematch-autoencoder-checkpoint" || err != nil || step < 0 {
		return 0, badInput("-checkpoint %s: not a checkpoint of ssm vae or ssm wae; delete it or choose another file", f.checkpoint)
	}
	if meta["command"] != f.cmd {
		return 0, badInput("-resume: %s is a checkpoint of ssm %s, not ssm %s", f.checkpoint, meta["command"], f.cmd)
	}
	want := f.trainSettings()
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if saved := meta["flag."+k]; saved != want[k] {
			diffs = append(diffs, fmt.Sprintf("-%s %s (the checkpoint: %s)", k, want[k], saved))
		}
	}
	if len(diffs) > 0 {
		return 0, badInput("-resume: %s was written with other settings: %s", f.checkpoint, strings.Join(diffs, "; "))
	}
	groups := map[string][]nn.Tensor{}
	for _, t := range ts {
		prefix, name, _ := strings.Cut(t.Name, ".")
		t.Name = name
		groups[prefix] = append(groups[prefix], t)
	}
	corrupt := func(what string) (int, error) {
		return 0, badInput("-checkpoint %s: %s does not match the model; delete it or choose another file", f.checkpoint, what)
	}
	if !setParams(am.m.NamedParams(), groups["model"]) {
		return corrupt("the weights")
	}
	if err := am.m.Optimizer().SetState(groups["opt"]); err != nil {
		return corrupt("the optimiser state")
	}
	if params, opt, _, set := am.scoreState(); params != nil {
		u, err := strconv.ParseUint(meta["score-updates"], 10, 64)
		if err != nil || !setParams(params, groups["score"]) {
			return corrupt("the score net")
		}
		if err := opt.SetState(groups["score-opt"]); err != nil {
			return corrupt("the score net's optimiser state")
		}
		set(u)
	}
	return step, nil
}

// setParams copies the tensors into the parameters of the same names and
// reports whether every parameter had one of its size.
func setParams(params []*ad.Param, ts []nn.Tensor) bool {
	byName := map[string]nn.Tensor{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	if len(byName) != len(params) {
		return false
	}
	for _, p := range params {
		t, ok := byName[p.Name]
		if !ok || len(t.Data) != len(p.Value.Data) {
			return false
		}
		copy(p.Value.Data, t.Data)
	}
	return true
}

// isAutoEncFile reports whether path is a model file of ssm vae or ssm wae.
func isAutoEncFile(path string) bool {
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return false // a FIFO would block; eval's loader reports it
	}
	_, meta, err := nn.ReadSafetensors(path)
	return err == nil && meta["format"] == aeFormatValue
}

// evalAutoEnc prints the test NLL by AIS of the auto-encoder saved at
// ev.modelPath on the held-out rows of -data its file records (the rows after
// the training rows, binarised as in training), with the recorded AIS
// settings unless -ais-chains or -ais-temps are given.
func evalAutoEnc(e *env, ev *evalFlags) error {
	am, err := loadAutoEnc(ev.modelPath)
	if err != nil {
		return err
	}
	f := am.f
	for _, n := range slices.Sorted(maps.Keys(ev.set)) {
		switch n {
		case "model", "data":
		case "ais-chains":
			f.aisChains = ev.aisChains
		case "ais-temps":
			if ev.aisTemps < 1 {
				return badInput("-ais-temps %d: want 1 to %d", ev.aisTemps, maxAETemps)
			}
			f.aisTemps = ev.aisTemps
		default:
			return badInput("-%s: not read for an auto-encoder (-model %s)", n, ev.modelPath)
		}
	}
	if !ev.set["data"] {
		return badInput("-data: give the file -model %s was trained on (its held-out rows are the test rows)", ev.modelPath)
	}
	f.data = ev.data
	_, test, err := f.aeData()
	if err != nil {
		return err
	}
	if test.Cols != am.dec.XDim() {
		return badInput("-data %s: %d columns, the model's %d", ev.data, test.Cols, am.dec.XDim())
	}
	res, err := am.nll(test)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, nllLine(res, f.aisChains, f.aisTemps))
	return nil
}
