package cache_test

import (
	"context"
)

type ctxType = context.Context

// bg is the context of the crash child, which has no testing.T.
func bg() ctxType { return context.Background() }
