#!/usr/bin/env python3
"""Every tests/test_<area>.cpp must be built and run by both builds: the areas listed in
PYSOCK_TEST_AREAS (tests/CMakeLists.txt), the areas in test_areas (tests/meson.build) and the
files on disk must be the same three sets.   usage: check_test_lists.py SOURCE_DIR"""
import glob
import os
import re
import sys


def cmake_areas(text):
    text = re.sub(r"#[^\n]*", "", text)
    areas = []
    for m in re.finditer(r"(?:set|list\s*\(\s*APPEND)\s*\(?\s*PYSOCK_TEST_AREAS\b([^)]*)\)", text):
        areas += m.group(1).split()
    return areas


def meson_areas(text):
    text = re.sub(r"#[^\n]*", "", text)
    areas = []
    for m in re.finditer(r"\btest_areas\s*\+?=\s*(\[[^\]]*\]|'[^']*')", text):
        areas += re.findall(r"'([^']*)'", m.group(1))
    return areas


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    tests = os.path.join(argv[1], "tests")
    with open(os.path.join(tests, "CMakeLists.txt"), encoding="utf-8") as f:
        cm = cmake_areas(f.read())
    with open(os.path.join(tests, "meson.build"), encoding="utf-8") as f:
        me = meson_areas(f.read())
    files = sorted(os.path.basename(f)[len("test_"):-len(".cpp")]
                   for f in glob.glob(os.path.join(tests, "test_*.cpp")))
    status = 0
    for name, areas in (("tests/CMakeLists.txt PYSOCK_TEST_AREAS", cm), ("tests/meson.build test_areas", me)):
        dups = sorted({a for a in areas if areas.count(a) > 1})
        missing = sorted(set(files) - set(areas))
        extra = sorted(set(areas) - set(files))
        if dups:
            print(f"FAIL  {name}: listed twice: {dups}")
        if missing:
            print(f"FAIL  {name}: does not list {['test_%s.cpp' % a for a in missing]}")
        if extra:
            print(f"FAIL  {name}: lists areas with no tests/test_<area>.cpp: {extra}")
        if dups or missing or extra:
            status = 1
        else:
            print(f"ok    {name}: {len(areas)} areas, one per tests/test_*.cpp")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
