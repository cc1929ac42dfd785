# Takes out one assertion of test-delta (no "ok" line): after a default
# `static-delta generate --from --to`, ostree's layout has a part file `0`
# beside the superblock. grove's default (InlineParts::Auto) puts the parts of
# a FROM->TO delta whose objects add up to 64 KiB or more inline, in several
# parts, so ostree 2022.7 clients do not also fetch its objects loose (ostree
# issue 2053); `--no-inline` gives ostree's layout. See docs/compat.md.
/^\${CMD_PREFIX} ostree --repo=repo static-delta generate --from=\${origrev} --to=\${newrev}$/,/^assert_has_file repo\/deltas\/\${deltaprefix}\/\${deltadir}\/0$/{/^assert_has_file repo\/deltas\/\${deltaprefix}\/\${deltadir}\/0$/d}
