"""Checks .github/workflows/hil-nightly.yml says what the README says it does: a
schedule, a matrix over boards dispatched by runner labels, `visreg run --lab` with the
shared store, the summary into the job summary, the report uploaded, the exit code kept,
and a history job across hosts. Parsed with PyYAML (GitHub's own YAML 1.2 subset)."""
import pathlib
import unittest

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]


class Workflow(unittest.TestCase):
    def setUp(self):
        text = (ROOT / ".github/workflows/hil-nightly.yml").read_text()
        self.wf = yaml.safe_load(text)
        # YAML 1.1 reads the key `on` as True.
        self.on = self.wf.get("on", self.wf.get(True))

    def test_nightly_and_by_hand(self):
        self.assertIn("schedule", self.on)
        self.assertIn("workflow_dispatch", self.on)

    def test_matrix_over_boards_with_one_label_per_board(self):
        lab = self.wf["jobs"]["lab"]
        boards = lab["strategy"]["matrix"]["board"]
        self.assertTrue({"h7", "h7plus"} <= set(boards))
        self.assertFalse(lab["strategy"]["fail-fast"])
        self.assertIn("self-hosted", lab["runs-on"])
        self.assertIn("visreg-${{ matrix.board }}", lab["runs-on"])

    def test_runs_the_lab_keeps_its_exit_code_and_publishes(self):
        steps = self.wf["jobs"]["lab"]["steps"]
        runs = "\n".join(s.get("run", "") for s in steps)
        self.assertIn("visreg run --lab", runs)
        self.assertIn('--boards "$BOARD"', runs)
        self.assertIn('--store "$VISREG_STORE"', runs)
        self.assertIn("$GITHUB_STEP_SUMMARY", runs)
        self.assertIn('exit "${{ steps.lab.outputs.exit }}"', runs)
        uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
        self.assertEqual(len(uploads), 1)
        self.assertEqual(uploads[0]["if"], "always()")

    def test_history_across_hosts(self):
        job = self.wf["jobs"]["history"]
        self.assertEqual(job["needs"], "lab")
        runs = "\n".join(s.get("run", "") for s in job["steps"])
        self.assertIn("visreg report --history", runs)


if __name__ == "__main__":
    unittest.main()
