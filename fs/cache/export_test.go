package cache

// SetClosedHook sets the hook File.Close runs right after it releases the
// handle from its inode; nil removes it.
func SetClosedHook(f func()) { closedHook = f }
