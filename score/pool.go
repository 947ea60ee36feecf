package score

import (
	"errors"
	"sync"

	"github.com/affectlab/affect/classify"
)

// Pool keeps loaded scorers between runs, so that scoring many inputs (a
// folder of clips, the jobs of a study worker) loads the networks once per
// parallel worker instead of once per input. A scorer holds no state from
// one face to the next, so a run with a Pool gives exactly the results of a
// run without one. A Pool is safe for concurrent use; Close it when done.
type Pool struct {
	mu     sync.Mutex
	idle   map[classify.ScorerParams][]*classify.Scorer
	loaded int
	closed bool
}

// ErrPoolClosed is returned by a run whose Pool was closed.
var ErrPoolClosed = errors.New("score: scorer pool is closed")

// NewPool returns an empty Pool.
func NewPool() *Pool { return &Pool{idle: map[classify.ScorerParams][]*classify.Scorer{}} }

// Loaded is the number of scorers the pool has loaded so far.
func (p *Pool) Loaded() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.loaded
}

// get returns an idle scorer of params, or loads one. Idle scorers of
// other params are closed: a pool keeps the networks of one setting only, so
// a worker that serves studies with different models does not pile them up.
func (p *Pool) get(params classify.ScorerParams) (*classify.Scorer, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	for other, idle := range p.idle {
		if other != params {
			for _, s := range idle {
				s.Close()
			}
			delete(p.idle, other)
		}
	}
	if idle := p.idle[params]; len(idle) > 0 {
		s := idle[len(idle)-1]
		p.idle[params] = idle[:len(idle)-1]
		p.mu.Unlock()
		return s, nil
	}
	p.mu.Unlock()
	s, err := classify.NewScorer(params)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.loaded++
	p.mu.Unlock()
	return s, nil
}

// put gives s back for the next run (or closes it if the pool is closed).
func (p *Pool) put(params classify.ScorerParams, s *classify.Scorer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		s.Close()
		return
	}
	p.idle[params] = append(p.idle[params], s)
}

// Close closes every idle scorer; scorers in use are closed when their run
// ends.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	for _, ss := range p.idle {
		for _, s := range ss {
			err = errors.Join(err, s.Close())
		}
	}
	p.idle, p.closed = nil, true
	return err
}
