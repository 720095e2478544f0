"""Reads a visreg junit.xml with junitparser, as CI test reporters read it.

Usage: check_junit.py JUNIT.xml

Prints one JSON object: the root's totals as written (tests, failures, errors,
skipped), the same totals counted case by case, and every case as Jenkins shows it —
classname split at its last dot into package and class (what Jenkins' junit plugin
does), its name, its result (passed, failure, error, skipped) and the result's message.
The Rust test compares these with verdicts.json.
"""
import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped


def result_of(case):
    for r in case.result:
        if isinstance(r, Failure):
            return "failure", r.message
        if isinstance(r, Error):
            return "error", r.message
        if isinstance(r, Skipped):
            return "skipped", r.message
    return "passed", None


def main():
    xml = JUnitXml.fromfile(sys.argv[1])
    root = {k: xml._elem.get(k) for k in ("tests", "failures", "errors", "skipped")}
    cases, counted = [], {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in xml:
        for case in suite:
            result, message = result_of(case)
            package, _, cls = case.classname.rpartition(".")
            cases.append(
                {
                    "suite": suite.name,
                    "classname": case.classname,
                    "package": package,
                    "class": cls,
                    "name": case.name,
                    "result": result,
                    "message": message,
                }
            )
            counted["tests"] += 1
            if result == "failure":
                counted["failures"] += 1
            elif result == "error":
                counted["errors"] += 1
            elif result == "skipped":
                counted["skipped"] += 1
    # junitparser's own totals over the suites (what it would write back).
    xml.update_statistics()
    parsed = {"tests": xml.tests, "failures": xml.failures, "errors": xml.errors, "skipped": xml.skipped}
    print(json.dumps({"root": root, "counted": counted, "parsed": parsed, "cases": cases}))


if __name__ == "__main__":
    main()
