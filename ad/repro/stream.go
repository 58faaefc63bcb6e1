package repro

import "math/rand/v2"

// A Purpose names what a random stream is drawn for. Streams of different
// purposes from one seed never coincide, so adding a draw for one purpose
// never shifts another's numbers.
type Purpose uint64

// The purposes. Their values are part of every recorded result: never
// renumber them; add new ones at the end.
const (
	Batch              Purpose = iota // one training sample's randomness at one step (step, sample)
	Validation                        // one validation sample's randomness (sample)
	Split                             // the train/validation split
	Epoch                             // the order of the training rows in an epoch (step = epoch)
	Chain                             // one sampler chain's moves (sample = chain)
	AISPilot                          // one AIS pilot chain (sample = chain)
	AIS                               // one AIS chain (sample = chain)
	Permutation                       // one permutation of a permutation test (sample = permutation)
	Data                              // draws from a built-in dataset
	Init                              // a model's initial weights
	Start                             // the starting points of sampler chains
	Check                             // random inputs of a derivative check
	Evaluation                        // random inputs of an evaluation
	AISReverse                        // one reverse AIS chain (sample = chain)
	EncoderNoise                      // an implicit encoder's noise ε in an entropy estimator's draws (step, sample)
	ScoreNetProjection                // the projections of an entropy estimator's score-net steps (step, sample)
	LossNoise                         // an auto-encoder's encoder noise in its training loss (step, sample)
	Binarize                          // dynamic binarisation of a training row (step, sample)
	Prior                             // draws from a latent prior (step, sample)
)

// A Stream is a random number generator positioned at the stream of
// (seed, purpose, step, sample) by Seed. Reseeding reuses it: Seed does
// not allocate. A Stream is not safe for concurrent use.
type Stream struct {
	pcg rand.PCG
	r   *rand.Rand
	_   [streamSize - 24]byte // 24: the state and the pointer on 64-bit machines
}

// streamSize is a Stream's size in bytes: two 64-byte cache lines, so that
// streams allocated one after the other (a chunk's each, or a chain's each)
// never share a line. Every draw writes the generator's state, and a line
// written by both cores moves between them at every draw: two chunks that
// drew their projections side by side took two to three times the CPU
// time of one chunk alone. Two lines, not one, because some cores fetch lines
// in aligned pairs; the allocator places objects of 128 bytes on 128-byte
// boundaries.
const streamSize = 128

// NewStream returns a stream; call Seed before drawing.
func NewStream() *Stream {
	s := &Stream{}
	s.r = rand.New(&s.pcg)
	return s
}

// Seed positions the stream at the numbers of (seed, p, step, sample) and
// returns its generator.
//
// The derivation is the one of the whole module: a PCG generator whose
// 128-bit state is seed ⊕ key(p) in the high word (key(Batch) = 0, the
// splitmix64 finaliser of p otherwise) and a mix of step and sample in
// the low word. The generator's numbers depend on nothing else: not on
// goroutines, chunks or the machine.
func (s *Stream) Seed(seed uint64, p Purpose, step, sample uint64) *rand.Rand {
	s.pcg.Seed(seed^key(p), mix(step, sample))
	return s.r
}

// New returns a new generator at the stream of (seed, p, step, sample)
// (see Stream.Seed).
func New(seed uint64, p Purpose, step, sample uint64) *rand.Rand {
	return NewStream().Seed(seed, p, step, sample)
}

// key is 0 for Batch, so that training draws are those of the PCG
// (seed, mix(step, sample)), and a well-mixed 64-bit word otherwise.
func key(p Purpose) uint64 {
	if p == Batch {
		return 0
	}
	return finalize(uint64(p) * 0x9e3779b97f4a7c15)
}

// mix combines two counters into one 64-bit word (the splitmix64
// finaliser over a pairing of the inputs).
func mix(a, b uint64) uint64 {
	return finalize(a*0x9e3779b97f4a7c15 ^ (b + 0x632be59bd9b4e019 + a<<6 + a>>2))
}

// finalize is splitmix64's output function: a bijection of 64-bit words
// that spreads every input bit over the output.
func finalize(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
