"""The command line: a run end to end, and one-line errors with exit code 2 for bad input."""

import json
import subprocess
import sys

import pytest

from simmodel.cli import main


def test_run_end_to_end_in_a_subprocess(tmp_path):
    out = tmp_path / "r"
    cp = subprocess.run([sys.executable, "-m", "simmodel", "run", "--scale", "0.005", "--end", "2014-12",
                         "--set", "cities.purchase_rate=0.2", "--out", str(out)],
                        capture_output=True, text=True, cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
    assert "year" in cp.stdout and "2014" in cp.stdout
    man = json.loads((out / "manifest.json").read_text())
    assert man["seeds"] == [1] and man["params"]["cities"]["purchase_rate"] == 0.2
    assert man["changed"]["cities.purchase_rate"] == 0.2
    assert {"python", "mesa", "numpy"} <= set(man["versions"]) and man["git"]["commit"]
    head = (out / "yearly.csv").read_text().splitlines()[0]
    assert head == "seed,period,region,sector,indicator,value"
    months = {line.split(",")[1] for line in (out / "monthly.csv").read_text().splitlines()[1:]}
    assert len(months) == 24
    assert {"headline.png", "stages.png", "cities.png"} <= {p.name for p in (out / "figures").iterdir()}


BAD = [
    (["--set", "cities.purchase_rat=0.1"], "cities.purchase_rat"),
    (["--set", "cities.purchase_rate=2"], "must be a number in"),
    (["--set", "cities.purchase_rate=lots"], "'lots'"),
    (["--set", "nonsense"], "expected key=value"),
    (["--scale", "0"], "run.scale"),
    (["--end", "2031-01"], "run.end"),
    (["--scenario", "no_such_scenario"], "unknown scenario"),
    (["--scenario", "missing.toml"], "no such file"),
    (["--bogus-flag"], "unrecognized arguments"),
]


@pytest.mark.parametrize("args,fragment", BAD)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, fragment):
    out = tmp_path / "r"
    code = main(["run", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_malformed_scenario_file_is_rejected(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[cities\npurchase_rate = 0.1\n")
    assert main(["run", "--scenario", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "not valid TOML" in err and str(bad) in err and err.count("\n") == 1


def test_unknown_key_in_a_scenario_file_names_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[cities]\npurchase_rat = 0.1\n")
    assert main(["run", "--scenario", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "cities.purchase_rat" in err and "bad.toml" in err


UNWRITABLE = "/proc/simmodel-test/r"  # no one, root included, can make a folder in /proc


@pytest.mark.parametrize("cmd", [["run", "--out", UNWRITABLE], ["compare", "baseline", "no_fund", "--out", UNWRITABLE],
                                 ["sweep", "experiments/sweeps/subsidy_x_fund.toml", "--out", UNWRITABLE],
                                 ["calibrate", "--quick", "--work", UNWRITABLE]])
def test_an_unwritable_output_folder_is_one_line_and_exit_2(cmd, capsys):
    assert main(cmd) == 2
    err = capsys.readouterr().err
    assert "is not a writable folder" in err and err.count("\n") == 1


MORE_BAD = [
    (["run", "--seed", "-1", "--seeds", "3"], "--seed"),
    (["run", "--scheduler", "tcp:/nowhere"], "--scheduler"),
    (["run", "--scheduler", "tcp://127.0.0.1:1", "--seeds", "2"], "no Dask scheduler answered"),
    (["run", "--workers", "0"], "--workers"),
    (["validate", "--end", "2014-12"], "validate needs the targets' years"),
    (["serve", "--port", "99999"], "--port"),
    (["serve", "--port", "-1"], "--port"),
    (["serve", "--scenario", "nonesuch"], "unknown scenario"),
    (["calibrate", "--quick", "--workers", "0"], "--workers"),
    (["run", "--out", ""], "--out = ''"),  # an empty path had meant the default folder
    (["validate", "--targets", ""], "--targets = ''"),
    (["contributions", "--file", ""], "is a directory"),
    # a parameter given twice: the second value had silently won
    (["run", "--set", "cities.purchase_rate=0.2", "--set", "purchase_rate=0.3"],
     "cities.purchase_rate is also given by --set cities.purchase_rate=0.2"),
    (["compare", "baseline", "no_fund", "--scale", "0.01", "--set", "run.scale=0.02"],
     "run.scale is also given by --scale"),
    (["contributions", "--end", "2014-12", "--set", "run.end=2013-12"], "run.end is also given by --end"),
    (["contributions", "--also-posterior", "1"], "--also-posterior = 1"),
    (["contributions", "--also-posterior", "4", "--posterior", "4"], "cannot go with --posterior"),
    (["contributions", "--also-posterior", "4", "--posterior-file", "nowhere.csv"], "nowhere.csv"),
    (["contributions", "--also-posterior", "4", "--seed", "-1"], "--seed = -1"),
]


@pytest.mark.parametrize("args,fragment", MORE_BAD)
def test_more_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# inputs written into a folder of their own (the name is the file, bytes its content); an audit of 2026-12-06 found
# each of these started work, wrote files or ended in a traceback
FILES = {"empty.toml": b"", "binary.toml": b"\xff\xfeab", "docdir/keep": b"",
         "y2012.toml": b'[t]\nindicator = "firms_stage_1plus"\nkind = "level"\nyear = 2012\nvalue = 1.0\n'
                       b'sd_obs = 1.0\nsd_model = 1.0\nrole = "fit"\n',
         "logfalse.toml": b'base = "baseline"\ndesign = "grid"\nscale = 0.004\nend = "2014-12"\n'
                          b'[factors.rate]\nkeys = ["cities.purchase_rate"]\nrange = [0.1, 0.4]\nsteps = 3\n'
                          b'log = "false"\n',
         "plot2050.toml": b'base = "baseline"\ndesign = "grid"\nscale = 0.004\nend = "2014-12"\nplot_year = 2050\n'
                          b'[factors.rate]\nkeys = ["cities.purchase_rate"]\nvalues = [0.1, 0.2]\n'}
FILE_BAD = [
    (["calibrate", "--budget", "0", "--workers", "1"], "--budget = 0"),
    (["calibrate", "--quick", "--targets", "{in}/empty.toml"], "names no target"),
    (["validate", "--targets", "{in}/empty.toml"], "names no target"),
    (["validate", "--targets", "{in}/y2012.toml"], "t.year = 2012"),
    (["run", "--scenario", "{in}/binary.toml"], "not UTF-8"),
    (["contributions", "--file", "{in}/binary.toml"], "UTF-8"),
    (["contributions", "--doc", "{in}/docdir", "--seeds", "2", "--scale", "0.004"], "is a directory"),
    (["sweep", "{in}/logfalse.toml", "--workers", "1"], "factors.rate.log = 'false'"),
    (["sweep", "{in}/plot2050.toml", "--workers", "1"], "plot_year = 2050"),
    (["serve", "--host", "999.1.1.1"], "--host"),
]


@pytest.mark.parametrize("args,fragment", FILE_BAD)
def test_bad_input_files_are_one_line_exit_2_and_start_nothing(tmp_path, capsys, monkeypatch, args, fragment):
    inputs, work = tmp_path / "in", tmp_path / "work"
    for name, content in FILES.items():
        (inputs / name).parent.mkdir(parents=True, exist_ok=True)
        (inputs / name).write_bytes(content)
    work.mkdir()
    monkeypatch.chdir(work)
    assert main([a.format(**{"in": inputs}) for a in args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert list(work.iterdir()) == [] and sorted(p.name for p in (inputs / "docdir").iterdir()) == ["keep"]


def test_a_bare_year_ends_a_run_in_its_december(tmp_path, capsys):
    """`--end 2014` is the whole of 2014 (as a year in a scenario file's end), not its January."""
    out = tmp_path / "r"
    assert main(["run", "--end", "2014", "--scale", "0.004", "--workers", "1", "--quiet", "--out", str(out)]) == 0
    months = {line.split(",")[1] for line in (out / "monthly.csv").read_text().splitlines()[1:]}
    assert len(months) == 24 and "2014-12" in months


def test_a_job_that_cannot_fit_in_memory_is_refused_unless_forced(tmp_path, capsys, monkeypatch):
    from simmodel.runs import memory
    monkeypatch.setattr(memory, "available_mb", lambda: 100.0)
    assert main(["run", "--scale", "0.003", "--end", "2013-06", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "would not fit" in err and "--force" in err and not (tmp_path / "r").exists()
    assert main(["run", "--scale", "0.003", "--end", "2013-06", "--out", str(tmp_path / "r"), "--force",
                 "--quiet"]) == 0


def test_a_calibration_counts_its_emulated_stage_in_its_memory_check(tmp_path, capsys, monkeypatch):
    """The full search's emulated stage holds up to 1,280,000 proposals' distances in this process (2.4 GB measured,
    runs/memory.py). With 2 GB free the runs alone (two workers at scale 0.02: about 0.7 GB) would fit; with the
    emulated stage they do not, and nothing is written."""
    from simmodel.analysis import calibrate
    from simmodel.runs import memory
    monkeypatch.setattr(memory, "available_mb", lambda: 2048.0)
    monkeypatch.setattr(calibrate, "run_calibration", lambda *a, **k: pytest.fail("the calibration started"))
    work = tmp_path / "w"
    assert main(["calibrate", "--work", str(work), "--workers", "2", "--fitted", str(tmp_path / "f.toml"),
                 "--report", str(tmp_path / "r.md")]) == 2
    err = capsys.readouterr().err
    assert "would not fit" in err and "--force" in err and not work.exists()


def test_failed_runs_exit_3_unless_allowed_and_the_header_says_how_many(tmp_path, capsys, fail_runs):
    fail_runs(lambda params, seed: seed == 2)
    base = ["run", "--scale", "0.003", "--end", "2013-12", "--seeds", "3", "--workers", "1"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 3
    assert "1 of 3 runs failed" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "b"), "--allow-failures"]) == 0
    out = capsys.readouterr()
    assert "means over 2 of 3 seeds" in out.out and "--allow-failures" in out.err
    man = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert man["runs"]["ok"] == 2 and man["runs"]["failed"] == 1 and man["runs"]["allow_failures"]
    summary = (tmp_path / "b" / "summary.csv").read_text().splitlines()
    assert summary[0].endswith(",seeds") and summary[1].endswith(",2")  # every summary row says it rests on 2 runs


def test_the_visual_server_warns_when_it_binds_beyond_this_machine(capsys, monkeypatch):
    import os as _os
    from simmodel.cli import info
    monkeypatch.setattr(_os, "execvpe", lambda *a: 0)  # do not become the server
    info.cmd_serve(info.argparse.Namespace(port=18765, host="0.0.0.0", scenario="baseline"))
    assert "reachable from other machines" in capsys.readouterr().err


def test_out_that_is_a_file_is_rejected(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["run", "--out", str(f / "r"), "--end", "2013-03"]) == 2
    assert "--out" in capsys.readouterr().err


def test_params_lists_every_parameter(capsys):
    from simmodel.params import PARAMS
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    assert all(p.key in out for p in PARAMS)


def test_serve_on_a_busy_port_is_one_line_and_exit_2(capsys):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "--port" in err and str(port) in err and err.count("\n") == 1


def test_output_into_a_closed_pipe_is_not_an_error():
    cp = subprocess.run(f"{sys.executable} -m simmodel scenarios | head -1", shell=True, capture_output=True,
                        text=True)
    assert "Traceback" not in cp.stderr and cp.stdout.strip()


def test_params_lists_the_values_a_scenario_uses(capsys):
    from simmodel.analysis import scenarios
    assert main(["params", "--scenario", "baseline"]) == 0
    out = capsys.readouterr().out
    intercept = scenarios.load("baseline").params["decision.intercept"]
    line = next(line for line in out.splitlines() if line.startswith("decision.intercept "))
    assert "*" in line and f"{intercept:.12g}" in line  # the calibrated value, marked as changed


def test_indicators_lists_every_output_with_unit_and_definition(capsys):
    from simmodel.model.indicators import INDICATORS
    assert main(["indicators"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(INDICATORS) and all(i.name in line and i.unit in line for i, line in zip(INDICATORS, lines))


def test_a_missing_baseline_is_a_one_line_error_not_the_defaults(tmp_path, capsys, monkeypatch):
    from simmodel import resources
    monkeypatch.setattr(resources, "scenarios_dir", lambda: tmp_path / "nothing")
    assert main(["run", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "baseline" in err and err.count("\n") == 1 and not (tmp_path / "r").exists()


def test_contributions_writes_the_table_and_its_figure(tmp_path, capsys):
    spec = tmp_path / "instruments.toml"
    spec.write_text('reference = "baseline"\n[[instrument]]\nscenario = "no_conferences"\nname = "Conferences"\n'
                    'claim = "+"\nsource = "seed 000 section 3.2"\nnote = "a note"\n'
                    '[[instrument]]\nscenario = "no_city_rewards"\nname = "Rewards"\nclaim = "none"\n')
    doc = tmp_path / "docs" / "contributions.md"
    rc = main(["contributions", "--file", str(spec), "--seeds", "2", "--scale", "0.005", "--end", "2015-12",
               "--workers", "1", "--out", str(tmp_path / "out"), "--doc", str(doc), "--quiet"])
    assert rc == 0
    text = doc.read_text()
    assert "| Conferences (`no_conferences`) | + |" in text and "| Rewards (`no_city_rewards`) | none |" in text
    assert "a note" in text and "![contributions](img/contributions.png)" in text
    assert (doc.parent / "img" / "contributions.png").stat().st_size > 10_000
    assert (tmp_path / "out" / "contributions.md").is_file() and (tmp_path / "out" / "report.md").is_file()


def test_contributions_also_read_over_the_posterior_say_where_the_verdicts_differ(tmp_path, capsys, fail_runs):
    """--also-posterior N runs every scenario on N posterior draws (one seed each) besides the point's seeds, and
    the document reads each verdict over the draws beside the point's: the cell is the mean over the draws and
    the Student-t interval of the draws' contributions (computed here from the runs' own rows)."""
    import pandas as pd
    from scipy import stats as st

    spec = tmp_path / "instruments.toml"
    spec.write_text('reference = "baseline"\n[[instrument]]\nscenario = "no_conferences"\nname = "Conferences"\n'
                    'claim = "+"\n[[instrument]]\nscenario = "no_city_rewards"\nname = "Rewards"\nclaim = "none"\n')
    doc, out = tmp_path / "docs" / "contributions.md", tmp_path / "out"
    from simmodel.analysis.posterior import Posterior
    shipped = str(Posterior.load(None).path)  # named, as --posterior-file may be with --also-posterior
    args = ["contributions", "--file", str(spec), "--seeds", "2", "--scale", "0.005", "--end", "2015-12",
            "--workers", "1", "--also-posterior", "4", "--posterior-file", shipped, "--quiet"]
    rc = main([*args, "--out", str(out), "--doc", str(doc)])
    assert rc == 0
    text = doc.read_text()
    assert "## The same verdicts over the calibration's posterior" in text and "--also-posterior 4" in text

    def firms(name):
        f = pd.read_csv(out / "posterior" / "scenarios" / name / "yearly.csv", dtype={"period": str})
        f = f[(f.region == "Zhejiang") & (f.sector == "all") & (f.period == "2015")
              & (f.indicator == "firms_stage_1plus")]
        return f.set_index("draw")["value"]
    x = firms("baseline") - firms("no_conferences")
    assert len(x) == 4  # four draws, one seed each
    half = st.t.ppf(0.975, 3) * x.std(ddof=1) / 2  # one claimed instrument: the level is 95 %
    section = text.split("## The same verdicts over the calibration's posterior")[1]
    row = next(line for line in section.splitlines() if line.startswith("| Conferences (`no_conferences`) | + |"))
    cell = row.split(" | ")[3]
    assert cell.startswith(f"{x.mean():+,.0f} [{x.mean() - half:,.0f}, {x.mean() + half:,.0f}] ")
    point = pd.read_csv(out / "contributions.csv").set_index(["scenario", "metric"])
    over = pd.read_csv(out / "contributions_posterior.csv").set_index(["scenario", "metric"])
    same = (point.loc[("no_conferences", "firms_stage_1plus"), "contribution_mean_lo"] > 0) == (x.mean() - half > 0)
    assert row.endswith("| yes |" if same else "| **no** |")
    assert over.loc[("no_conferences", "firms_stage_1plus"), "units"] == 4
    man = json.loads((out / "posterior" / "manifest.json").read_text())
    assert man["posterior"]["draws"] == 4 and man["runs"]["planned"] == 12
    also = json.loads((out / "manifest.json").read_text())["also_posterior"]
    assert also["folder"] == "posterior" and also["draws"] == 4 and also["runs"]["planned"] == 12
    # a failed run over the posterior (seed 4 is a posterior draw's only) fails the job unless allowed
    fail_runs(lambda params, seed: seed == 4)
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "failed")]) == 3
    assert "3 of 18 runs failed" in capsys.readouterr().err


@pytest.mark.parametrize("content,fragment", [
    ('[[instrument]]\nscenario = "no_fund"\nname = "Fund"\nclaim = "maybe"\n', "claim"),
    ('[[instrument]]\nscenario = "no_fund"\nname = "Fund"\nclaim = "+"\ncolour = "red"\n', "colour"),
    ('reference = "baseline"\n', "[[instrument]]"),
    ('[[instrument]]\nscenario = "no_such"\nname = "X"\nclaim = "+"\n', "no_such"),
])
def test_a_bad_instruments_file_is_one_line_and_exit_2(tmp_path, capsys, content, fragment):
    spec = tmp_path / "instruments.toml"
    spec.write_text(content)
    assert main(["contributions", "--file", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err
    assert not (tmp_path / "out").exists()
