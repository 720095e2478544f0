//! `junit.xml`: one test suite per candidate build (properties: board, build, baseline,
//! dataset and its hash, run), one test case per metric check (× bucket). A regression is
//! a `<failure>` carrying the change and its interval; an inconclusive check is
//! `<skipped>` with its numbers as the reason; the others pass with their numbers in
//! `<system-out>`. The root `<testsuites>` totals tests, failures, errors and skipped.
//! Valid against the Jenkins JUnit schema (`reports/tests/data/junit-4.xsd`), and read
//! by junitparser in `runner/tests/ci_formats.rs`.
//!
//! Class names: Jenkins (and the test reporters that follow it) split `classname` at its
//! *last* dot into package and class, so `visreg.5.0.1` would read as package
//! `visreg.5.0`, class `1`. Each case's classname is therefore
//! `visreg.<dataset>.<build>` with the dots *inside* the dataset and build names written
//! as `_` (`visreg.qvga-basic.5_1_0-rc1`): the package is `visreg.<dataset>` — the
//! builds of one dataset side by side — and the class is the build, still readable as
//! its version. The suite's `build` property keeps the exact name.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use visreg_bench::verdict::Verdict;

use super::{check_name, describe_change, entry_word, ReportInput};

type W = Writer<Vec<u8>>;

fn start(w: &mut W, name: &str, attrs: &[(&str, &str)]) -> std::io::Result<()> {
    let mut e = BytesStart::new(name);
    for a in attrs {
        e.push_attribute(*a);
    }
    w.write_event(Event::Start(e))
}

fn end(w: &mut W, name: &str) -> std::io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn text_element(w: &mut W, name: &str, attrs: &[(&str, &str)], text: &str) -> std::io::Result<()> {
    start(w, name, attrs)?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    end(w, name)
}

/// A name as one segment of a dotted class name: its dots written as `_`.
fn segment(name: &str) -> String {
    name.replace('.', "_")
}

/// The classname of `build`'s cases on `dataset`: package `visreg.<dataset>`, class
/// `<build>`, each without inner dots (see the module's note).
pub(crate) fn classname(dataset: &str, build: &str) -> String {
    format!("visreg.{}.{}", segment(dataset), segment(build))
}

fn write(input: &ReportInput, w: &mut W) -> std::io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let candidates: Vec<&str> = input
        .builds
        .iter()
        .map(|b| b.name.as_str())
        .filter(|b| *b != input.run.baseline)
        .collect();
    let n = |f: &dyn Fn(&super::VerdictEntry) -> bool| {
        input.verdicts.iter().filter(|e| f(e)).count().to_string()
    };
    // A run without a verdict is an error of the suite, never zero failures.
    let incomplete = input.incomplete();
    let errors = usize::from(incomplete.is_some());
    start(
        w,
        "testsuites",
        &[
            ("name", &format!("visreg {}", input.run.id)),
            ("tests", &(input.verdicts.len() + errors).to_string()),
            ("failures", &n(&|e| super::fails_run(e))),
            ("errors", &errors.to_string()),
            ("skipped", &n(&|e| e.verdict == Verdict::Inconclusive)),
        ],
    )?;
    if let Some(why) = &incomplete {
        start(
            w,
            "testsuite",
            &[
                ("name", "visreg.run"),
                ("tests", "1"),
                ("failures", "0"),
                ("errors", "1"),
                ("skipped", "0"),
            ],
        )?;
        start(
            w,
            "testcase",
            &[("classname", "visreg.run"), ("name", "run completed")],
        )?;
        text_element(w, "error", &[("message", why), ("type", "incomplete")], why)?;
        end(w, "testcase")?;
        end(w, "testsuite")?;
    }
    for build in candidates {
        let entries: Vec<_> = input.verdicts.iter().filter(|e| e.build == build).collect();
        let count = |v: Verdict| {
            entries
                .iter()
                .filter(|e| e.verdict == v)
                .count()
                .to_string()
        };
        let failures = entries
            .iter()
            .filter(|e| super::fails_run(e))
            .count()
            .to_string();
        let board = input
            .builds
            .iter()
            .find(|b| b.name == build)
            .map(|b| b.board.clone())
            .unwrap_or_default();
        start(
            w,
            "testsuite",
            &[
                ("name", &format!("{build} vs {}", input.run.baseline)),
                ("tests", &entries.len().to_string()),
                ("failures", &failures),
                ("errors", "0"),
                ("skipped", &count(Verdict::Inconclusive)),
                ("package", "visreg"),
            ],
        )?;
        start(w, "properties", &[])?;
        for (k, v) in [
            ("board", board.as_str()),
            ("build", build),
            ("baseline", input.run.baseline.as_str()),
            ("dataset", input.run.dataset_name.as_str()),
            ("dataset_hash", input.run.dataset_hash.as_str()),
            ("run", input.run.id.as_str()),
            ("camera", input.run.camera.as_str()),
        ] {
            w.write_event(Event::Empty({
                let mut e = BytesStart::new("property");
                e.push_attribute(("name", k));
                e.push_attribute(("value", v));
                e
            }))?;
        }
        end(w, "properties")?;
        let classname = classname(&input.run.dataset_name, build);
        for e in entries {
            let name = check_name(e);
            start(w, "testcase", &[("name", &name), ("classname", &classname)])?;
            let what = format!("{name} {}: {}", entry_word(e), describe_change(e));
            match e.verdict {
                Verdict::Regressed if super::fails_run(e) => text_element(
                    w,
                    "failure",
                    &[("type", "regressed"), ("message", &what)],
                    &format!(
                        "{what}\nbuild {build} against {} on {} ({})",
                        input.run.baseline, input.run.dataset_name, input.run.dataset_hash
                    ),
                )?,
                Verdict::Inconclusive => text_element(
                    w,
                    "skipped",
                    &[("message", &format!("inconclusive: {}", describe_change(e)))],
                    &what,
                )?,
                _ => text_element(w, "system-out", &[], &what)?,
            }
            end(w, "testcase")?;
        }
        end(w, "testsuite")?;
    }
    end(w, "testsuites")
}

/// The JUnit document.
pub fn junit_xml(input: &ReportInput) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail.
    write(input, &mut w).expect("writing XML into memory");
    let mut s = String::from_utf8(w.into_inner()).expect("quick-xml writes UTF-8");
    s.push('\n');
    s
}
