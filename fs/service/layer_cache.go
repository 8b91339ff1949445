package service

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"polytropon/fs"
	"polytropon/fs/cache"
)

// The "cache" layer wraps the rest of the stack in a client cache
// (package fs/cache) with per-instance settings from the layer's options:
//
//	capacity, max_dirty, max_readahead   bytes ("256M", "1G", "65536")
//	page_size                            bytes (private pool)
//	dirty_expire, writeback_interval,
//	attr_timeout, entry_timeout          Go durations ("5s", "-1s" disables)
//	write_through                        true/false
//	policy                               eviction policy name
func init() { RegisterLayer("cache", buildCache) }

func buildCache(l Layer, below fs.Service) (fs.Service, error) {
	if below == nil {
		return nil, fmt.Errorf("%w: a cache layer needs layers below it in the stack", ErrConfig)
	}
	var o cache.Options
	keys := make([]string, 0, len(l.Options))
	for k := range l.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := l.Options[k]
		var err error
		switch k {
		case "capacity":
			o.Capacity, err = parseBytes(v)
		case "max_dirty":
			o.MaxDirty, err = parseBytes(v)
		case "max_readahead":
			o.MaxReadahead, err = parseBytes(v)
		case "page_size":
			var n int64
			n, err = parseBytes(v)
			o.PageSize = int(n)
		case "dirty_expire":
			o.DirtyExpire, err = time.ParseDuration(v)
		case "writeback_interval":
			o.WritebackInterval, err = time.ParseDuration(v)
		case "attr_timeout":
			o.AttrTimeout, err = time.ParseDuration(v)
		case "entry_timeout":
			o.EntryTimeout, err = time.ParseDuration(v)
		case "write_through":
			o.WriteThrough, err = strconv.ParseBool(v)
		case "policy":
			o.Policy = v
		default:
			return nil, fmt.Errorf("%w: cache option %q (have capacity, max_dirty, max_readahead, page_size, dirty_expire, writeback_interval, attr_timeout, entry_timeout, write_through, policy)", ErrConfig, k)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: cache option %s = %q: %v", ErrConfig, k, v, err)
		}
	}
	return cache.New(below, o)
}

// parseBytes reads a byte count with an optional binary suffix (K, M, G,
// KiB, MiB, GiB); a leading '-' is kept (negative disables some options).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"k", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a byte count")
	}
	return n * mult, nil
}
