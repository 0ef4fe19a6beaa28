package models

import "context"

// PollCloser closes a poll found past its deadline and announces it. The app layer installs
// one (SetPollCloser) so that a poll closed lazily on read is announced exactly like one the
// close job reaches: same transaction, same notifications, same live messages.
type PollCloser func(ctx context.Context, pollID string) error

// SetPollCloser installs the closer reads use for polls past their deadline; nil restores the
// store's own (which writes the notifications but publishes nothing).
func (s *Store) SetPollCloser(fn PollCloser) {
	if fn == nil {
		s.closer.Store(nil)
		return
	}
	s.closer.Store(&fn)
}

// closeDue closes a poll a read found past its deadline.
func (s *Store) closeDue(ctx context.Context, pollID string) error {
	if fn := s.closer.Load(); fn != nil {
		return (*fn)(ctx, pollID)
	}
	_, err := s.ClosePoll(ctx, pollID)
	return err
}
