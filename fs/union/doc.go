// Package union is the union libservice: a file-level copy-on-write union
// of N branches, each any fs.Service. Branch 0 is the writable upper branch,
// private to one Union; branches 1..N-1 are read-only lower branches, top to
// bottom, and may be shared by many unions at once (32 clones' unions over
// one image service). The union never writes to a lower branch. Lower
// branches must not change while in use, and branch 0 may change only
// through its Union (the union caches what it learned about them), as with
// overlayfs.
//
// # Lookup
//
// A name is looked up top down and the first branch that holds it, or that
// hides it, decides: a whiteout for the name, an opaque directory above it
// or a non-directory on the way in a branch hides the branches below. A
// directory that exists in several branches is merged (readdir shows the
// union of their entries, upper first, without duplicates) unless the upper
// copy is opaque. An entry's attributes, st_ino and st_dev included, are
// those of the branch that shows it (see Inode numbers).
//
// Symbolic links are resolved by the union, through the merged view, never
// by a branch: a link in one branch may point into a directory merged from
// others (lib -> usr/lib of a merged-/usr image), and a deletion made through
// the link leaves its whiteout next to the real name. Absolute targets are
// relative to the union root and ".." never climbs above it, so a tenant
// stays inside its instance whatever the branches hold.
//
// # Whiteouts and opaque directories
//
// The format works over any libservice through the fs.Service API alone
// (there is no mknod, so overlayfs's character-device whiteouts are out): it
// is AUFS's. A whiteout for NAME is an empty regular file ".wh.NAME" in the
// same directory of the branch; an opaque directory holds an empty file
// ".wh..wh..opq". Names ".wh..wh.tmp.*" are the union's temporaries. Every
// name element starting with ".wh." is reserved: callers get EINVAL for
// any call that names one (EINVAL rather than EPERM, because such a name is
// malformed for this filesystem, not forbidden to this caller), readdir
// never shows one, and a symbolic link that resolves to one fails with
// EINVAL. A middle branch may itself carry whiteouts and opaque markers (an
// old upper branch reused as a lower one); they are honoured.
//
// Unlink and rmdir of a name that a lower branch shows leave a whiteout in
// branch 0 (after removing branch 0's own entry, if any). Rmdir first checks
// that the merged view of the directory is empty (ENOTEMPTY otherwise). A
// directory created where a whiteout was is created opaque, in one step (it
// is built under a temporary name with its marker and renamed into place),
// so the deleted lower content stays deleted. Creating a file over a
// whiteout removes the whiteout.
//
// # Copy-up
//
// Any call that may modify a lower entry first copies it to branch 0:
// Open with O_WRONLY, O_RDWR, O_TRUNC or O_APPEND, Truncate, Chmod, Chown,
// Utimens, Setxattr, Removexattr, Link and Rename. Missing parent
// directories are created first with the lower directories' mode, owner and
// times. The copy keeps content, mode, owner, atime and mtime, extended
// attributes (when both branches have them and branch 0 accepts them), and
// symbolic links stay symbolic links. Content is copied in chunks (1 MiB by
// default, WithCopyUpChunk); all-zero chunks are skipped, so holes stay
// holes at that granularity. An open with O_TRUNC and a truncate to zero copy
// no data. Devices, fifos and sockets cannot be copied up (EOPNOTSUPP):
// the API cannot create them.
//
// A copy-up builds the copy under a temporary name, flushes it (unless
// WithCopyUpSync(false)), then renames it into place: a failure or crash
// never leaves a partial file visible; a failed copy-up removes its
// temporary, and a crash leaves an invisible temporary behind. The parent
// directory's times are put back afterwards, as overlayfs does: a copy-up
// is not a change of the directory.
//
// A copy-up holds only the lock of its own name while it transfers data,
// so copy-ups of different files run in parallel, and a racing second
// copy-up of the same file waits and then finds the copy done.
//
// Hard links between lower files are not preserved by copy-up: the copied
// name gets its own inode (overlayfs without index=on behaves the same).
//
// # Open files
//
// A read-only open of a lower file returns the lower branch's own handle. It
// keeps reading the lower data after a later copy-up and write of the same
// name: only handles opened after the copy-up see the new content
// (overlayfs before Linux 4.19 behaved this way too).
//
// # Rename
//
// Files and symbolic links, in any branch, are renamed by copying them up
// (if needed) and renaming in branch 0; a whiteout hides a lower copy of
// the old name. Directories that exist only in branch 0 rename normally (one
// moved over a name a lower branch has is made opaque first). A directory
// that exists, wholly or partly, in a lower branch fails with EXDEV, like
// overlayfs without redirect_dir: copying a whole tree up inside one rename
// call would be unbounded in time and space and could not be atomic, while
// every tool that moves directories (mv, rsync, package managers) already
// answers EXDEV by copying and deleting. RENAME_NOREPLACE is checked against
// the merged view; RENAME_EXCHANGE and other flags fail with EINVAL.
// Replacing an existing merged-empty directory is not atomic: the target
// name may be missing for an instant.
//
// # Inode numbers
//
// st_ino (and st_dev, and Dirent.Ino) are the branch's own: they are stable
// for a name while it stays in one branch, and change when a copy-up moves
// the name to branch 0, as overlayfs without xino. Two names in different
// branches may show the same st_ino with different st_dev.
//
// # Other calls
//
// Statfs reports branch 0's statistics (where new data goes). Access is
// answered by the branch that shows the name; a read-only lower backend's
// EROFS does not count against W_OK, since a write would copy up. Getxattr
// and Listxattr read the branch that shows the name (a symbolic link's own
// attributes, as lgetxattr); a branch without fs.Xattrer answers
// EOPNOTSUPP. Flush and Drop forward to every branch that is an fs.Flusher.
// Close closes nothing: branches belong to the caller. Names longer than
// 251 bytes cannot be whited out (the marker would exceed NAME_MAX), so
// deleting such a lower name fails with ENAMETOOLONG.
//
// # Concurrency
//
// A Union is safe for concurrent use. Lock order:
//
//	Union.names (keyed by name; several keys are taken in sorted order)
//	  Union.nsMu (RWMutex)
//	    Union.cache.mu
//
// names serialises the calls on one name (copy-up, create, remove, the two
// names of a rename or link); it is taken first. nsMu is held for reading by
// every call that adds or removes names in one directory and for writing by
// rmdir and directory rename, which change whole subtrees; copy-up takes it
// only around creating its temporary and publishing it, never while copying
// data. cache.mu guards the lookup cache and is never held across a call
// into a branch. Lookups (stat, read-only open, readdir) take no lock but
// cache.mu, briefly.
package union
