package geo

import (
	"context"
	"os"
	"time"
)

// fileStamp is what Watch compares to notice a replaced file.
type fileStamp struct {
	ok    bool
	size  int64
	mtime time.Time
	file  os.FileInfo
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{ok: true, size: fi.Size(), mtime: fi.ModTime(), file: fi}
}

// watchedPaths are the database files of cfg that Watch polls.
func watchedPaths(cfg Config) []string {
	var paths []string
	for _, p := range []string{cfg.CountryDB, cfg.ASNDB, cfg.Geofeed} {
		if p != "" && (len(paths) == 0 || paths[0] != p) {
			paths = append(paths, p)
		}
	}
	return paths
}

func stampsOf(paths []string) []fileStamp {
	s := make([]fileStamp, len(paths))
	for i, p := range paths {
		s[i] = stampOf(p)
	}
	return s
}

func (s fileStamp) same(o fileStamp) bool {
	if s.ok != o.ok {
		return false
	}
	if !s.ok {
		return true
	}
	return s.size == o.size && s.mtime.Equal(o.mtime) && os.SameFile(s.file, o.file)
}

// Watch polls the configured database files every interval and reloads
// them when one changed (renamed over, rewritten, or reappeared after it
// was missing), once it has been stable for one interval so that a file
// being written is not read half-way. Each reload's result is passed to
// onReload (nil: success); a failed reload keeps the databases in use and
// is retried at the next change. Watch returns when ctx is done; with no
// file configured (embedded databases only) it just waits for that.
// Polling needs no inotify and sees Kubernetes' symlink swaps of mounted
// ConfigMaps and Secrets.
func (r *Resolver) Watch(ctx context.Context, interval time.Duration, onReload func(error)) {
	paths := watchedPaths(r.cfg)
	equal := func(a, b []fileStamp) bool {
		for i := range a {
			if !a[i].same(b[i]) {
				return false
			}
		}
		return true
	}
	// What was loaded, stamped before it was read: a file replaced
	// between Open and Watch is a change too.
	loaded := r.cur.Load().stamps
	var pending []fileStamp // changed, waiting to be stable
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if len(paths) == 0 {
			continue
		}
		now := stampsOf(paths)
		switch {
		case equal(now, loaded):
			pending = nil
		case pending == nil || !equal(now, pending):
			pending = now // changed: wait one interval
		default:
			err := r.Reload()
			loaded, pending = now, nil
			if onReload != nil {
				onReload(err)
			}
		}
	}
}
