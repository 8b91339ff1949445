# Builds polytropon with every optional part scripts/setup.sh installs
# (Ceph through go-ceph: libcephfs-dev, librados-dev, tags "ceph pacific")
# and the preload library, and installs the binary:
#
#   make                 bin/polytropon + fs/preload/libpolytropon.so
#   make TAGS=           a build without Ceph (polytropon version says what it lacks)
#   make install         bin/polytropon -> $(PREFIX)/bin (default /usr/local/bin)
#
# The installed binary still finds the preload library in this checkout
# (or $POLYTROPON_PRELOAD). scripts/quick.sh builds through this file.
GO      ?= go
TAGS    ?= ceph pacific
PREFIX  ?= /usr/local
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  := $(shell git rev-parse HEAD 2>/dev/null)
DIRTY   := $(shell git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true)
PKG     := polytropon/internal/buildinfo
LDFLAGS := -X $(PKG).version=$(VERSION) -X $(PKG).commit=$(COMMIT) -X $(PKG).dirty=$(DIRTY)

export GOTOOLCHAIN = auto
export GOFLAGS = -mod=mod

.PHONY: all build preload install FORCE
all: build
build: bin/polytropon preload

# Always handed to go build, which knows what is up to date.
bin/polytropon: FORCE
	@mkdir -p bin
	$(GO) build -buildvcs=auto -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $@ ./cmd/polytropon

preload:
	$(MAKE) -s -C fs/preload

install: bin/polytropon
	install -D -m 0755 bin/polytropon $(DESTDIR)$(PREFIX)/bin/polytropon
