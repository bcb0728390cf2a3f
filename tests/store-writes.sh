#!/bin/sh
# Every write to the store commits through store_write() (core/store.c).
# That is what makes a write's change records visible
# (apitoken_store_changes_visible) before it returns, which reused
# snapshots (core/store_snapshot.c) and apitokend's kept introspection
# answers (introspect/answer_cache.c, introspect/tail.c) rely on to never
# show what was true before a write: a transaction begun anywhere else
# would be a revocation that a kept answer could outlive.  So: the only
# transactions begun outside store_write() are the one that creates the
# databases in store_open() (before any reader exists) and the read-only
# snapshots, and nothing but store_write() and that one commits.
. "$top_srcdir/tests/lib.sh"

cd "$top_srcdir" || exit 99
srcs=$(ls core/*.c introspect/*.c plugin/*.c plugin/*/*.c 2>/dev/null)

begins=$(grep -n -- '->txn_begin(' $srcs | sed 's/:[[:space:]]*/: /')
check_eq "transactions are begun in store_write, store_open and the snapshot code only" \
	"core/store.c core/store.c core/store_snapshot.c" \
	"$(printf '%s\n' "$begins" | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//')"
# (Regions: with replication they are read-committed, no MVCC there.)
check_match "the snapshot code begins read-only snapshots only" \
	'DB_TXN_SNAPSHOT' "$(grep -A2 'txn_begin(' core/store_snapshot.c)"

# Between store_write()'s opening line and the next function: one begin.
in_write=$(awk '/^store_write\(/ { on = 1 } on && /^}/ { on = 0 }
	on && /->txn_begin\(/ { n++ } END { print n + 0 }' core/store.c)
check_eq "store_write begins one of the two in store.c" 1 "$in_write"
in_open=$(awk '/^open_dbs\(/ { on = 1 }
	on && /^}/ { on = 0 } on && /->txn_begin\(/ { n++ } END { print n + 0 }' \
	core/store.c)
check_eq "the other is the one that creates the databases at open" 1 \
	"$in_open"

commits=$(grep -n -- '->commit(' $srcs | cut -d: -f1 | sort | uniq -c |
	awk '{ print $2 "=" $1 }' | tr '\n' ' ' | sed 's/ $//')
check_eq "commits: store_write and open in store.c, snapshots (read-only)" \
	"core/store.c=2 core/store_snapshot.c=2" "$commits"
check_eq "snapshot commits are the no-sync kind of a read-only transaction" \
	2 "$(grep -c -- '->commit(.*DB_TXN_NOSYNC)' core/store_snapshot.c)"

done_testing
