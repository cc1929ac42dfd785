# Takes out the check "ok test error pre commit/bootid" (test-basic-user,
# test-basic-user-only): it sets libostree's fault-injection variable
# OSTREE_REPO_TEST_ERROR=pre-commit and expects the failed commit to leave a
# staging directory tmp/staging-BOOTID-*. grove has neither: it writes each
# object as an unnamed O_TMPFILE linked into objects/ when complete, with no
# per-transaction staging directory, and honours no libostree test variables.
# See docs/compat.md ("Commit, checkout, fsck").
/^if env OSTREE_REPO_TEST_ERROR=pre-commit/,/^echo "ok test error pre commit\/bootid"$/d
