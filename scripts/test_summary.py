#!/usr/bin/env python3
"""test_summary.py LOG... - what the test executables of one stage really did.

Reads the logs a test runner keeps (ctest: <build>/Testing/Temporary/LastTest.log; meson:
<build>/meson-logs/testlog.txt) and adds up what the doctest executables and the examples'
end-to-end driver printed: test cases passed, failed and skipped (doctest counts a test skipped by
a decorator of tests/platform.hpp under "skipped", never under "passed"), with each skip's reason.

Prints the summary; when PYSOCK_SUMMARY_FILE is set, also writes its first line there, for
scripts/test's closing table. Exit status 0 (the runner's own status says pass or fail).
"""
import os
import re
import sys

DOCTEST = re.compile(r"\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed \|\s*(\d+) skipped")
SKIPPED = re.compile(r"\[pysock\] SKIPPED (.*)$")
EXAMPLE = re.compile(r"^(PASS|FAIL|SKIP)  (\w+)(?:: (.*))?$")


def main(paths):
    executables = cases = passed = failed = skipped = 0
    skips = set()
    examples = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    read = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            continue
        read += 1
        for line in lines:
            if m := DOCTEST.search(line):
                executables += 1
                n, p, fl, s = map(int, m.groups())
                cases += n + s  # doctest's count leaves the skipped out
                passed += p
                failed += fl
                skipped += s
            elif m := SKIPPED.search(line):
                skips.add(m.group(1))
            elif m := EXAMPLE.match(line):
                examples[m.group(1)] += 1
                if m.group(1) == "SKIP":
                    skips.add(f"examples.{m.group(2)}: {m.group(3)}")
    if not read:
        print(f"test_summary: no log among {paths}")
        return 0
    first = f"{passed} passed, {failed} failed, {skipped} skipped"
    if sum(examples.values()):
        first += (f"; examples {examples['PASS']} passed, {examples['FAIL']} failed, "
                  f"{examples['SKIP']} skipped")
    print(f"\n--- test cases: {first} ({cases} in {executables} doctest executables)")
    for s in sorted(skips):
        print(f"  skipped: {s}")
    if os.environ.get("PYSOCK_SUMMARY_FILE"):
        with open(os.environ["PYSOCK_SUMMARY_FILE"], "w") as f:
            f.write(first + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
