package pipeline

import "time"

// SetAfterProcess installs a hook run after a message is processed and
// before it is acknowledged (tests simulate a crash there).
func SetAfterProcess(c *Consumer, fn func(seq uint64)) { c.afterProcess = fn }

// SetSkipAck makes the consumer leave the messages fn selects unacknowledged
// (a lost ack) and sets the ack wait after which the broker redelivers them.
func SetSkipAck(c *Consumer, wait time.Duration, fn func(seq uint64) bool) {
	c.skipAck, c.ackWait = fn, wait
}
