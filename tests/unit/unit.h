/*
 * Shared glue for the Check unit suites: each suite's main() is
 *     int main(void) { return unit_run(my_suite()); }
 * and its results are reported in TAP for the automake harness.
 */
#ifndef APITOKEN_TESTS_UNIT_H
#define APITOKEN_TESTS_UNIT_H

#include <check.h>

/* Run s, report TAP on stdout, return the exit status for automake. */
int unit_run(Suite *s);

/* A new empty folder under $TMPDIR (or /tmp); caller frees the string. */
char *unit_tmpdir(void);

/* rm -rf path (test clean-up). */
void unit_rmtree(const char *path);

#endif
