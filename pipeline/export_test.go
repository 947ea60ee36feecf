package pipeline

// SetAfterProcess installs a hook run after a message is processed and
// before it is acknowledged (tests simulate a crash there).
func SetAfterProcess(c *Consumer, fn func(seq uint64)) { c.afterProcess = fn }
