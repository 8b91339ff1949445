/*
 * copy.c: sendfile and copy_file_range with a library fd on either side:
 * emulated with read/pread and write/pwrite through the library, in chunks
 * of up to 1 MiB. Between two kernel fds they are the kernel's.
 */
#include "poly.h"

#include <stdlib.h>
#include <sys/sendfile.h>

static ssize_t copy_fds(int in, off_t *inoff, int out, off_t *outoff, size_t count)
{
	size_t bufsz = count < (1u << 20) ? count : (1u << 20);
	char *buf = malloc(bufsz ? bufsz : 1);
	if (!buf)
		return poly_ret(-ENOMEM);
	size_t done = 0;
	ssize_t err = 0;
	while (done < count) {
		size_t n = count - done < bufsz ? count - done : bufsz;
		ssize_t r = inoff ? pread(in, buf, n, *inoff) : read(in, buf, n);
		if (r < 0) {
			err = -1;
			break;
		}
		if (r == 0)
			break;
		size_t w = 0;
		while (w < (size_t)r) {
			ssize_t k = outoff ? pwrite(out, buf + w, (size_t)r - w, *outoff + (off_t)w)
					   : write(out, buf + w, (size_t)r - w);
			if (k <= 0) {
				err = -1;
				break;
			}
			w += (size_t)k;
		}
		if (inoff)
			*inoff += (off_t)w;
		if (outoff)
			*outoff += (off_t)w;
		done += w;
		if (err || (size_t)r < n)
			break;
	}
	int e = errno;
	free(buf);
	errno = e;
	return done > 0 ? (ssize_t)done : err;
}

POLY_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	if (!lfd_get(in) && !lfd_get(out))
		return REAL(sendfile)(out, in, off, count);
	return copy_fds(in, off, out, NULL, count);
}
POLY_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count) { return sendfile(out, in, off, count); }

POLY_EXPORT ssize_t copy_file_range(int in, off64_t *inoff, int out, off64_t *outoff, size_t len,
				    unsigned int flags)
{
	if (!lfd_get(in) && !lfd_get(out))
		return REAL(copy_file_range)(in, inoff, out, outoff, len, flags);
	if (flags)
		return poly_ret(-EINVAL);
	return copy_fds(in, inoff, out, outoff, len);
}
