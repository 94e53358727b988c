"""`corral import`: real-world-style configs become corral TOML that corral's loader takes.

Every import runs the real CLI (`python -m corral import`) in a child process; the
result is loaded with corral's own `load_config`, and the supervisord one is
started by a real daemon whose programs reach RUNNING.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path

import pytest

import corral
from corral._supervisor.config.load import load_config
from tests.support.daemon import Daemon, running_daemon
from tests.support.waiting import wait_until

CORPUS = Path(__file__).resolve().parent / "corpus"
ENV = {"CORRAL_IMPORT_USER": "deploy"}


def corral_import(*args: str, env: dict[str, str] | None = None) -> corral.Result:
    """`corral import ARGS...` as a user runs it."""
    argv = [sys.executable, "-m", "corral", "import", *args]
    return corral.run(argv, extra_env={**ENV, **(env or {})}, check=False, timeout=60)


def imported(tmp_path: Path, source: Path, *args: str) -> tuple[corral.Result, Path]:
    out = tmp_path / "corral.toml"
    result = corral_import(str(source), "-o", str(out), *args)
    assert result.exit_code == 0, result.stderr_text
    return result, out


def programs_of(out: Path) -> dict[str, object]:
    return {program.name: program for program in load_config(out).programs}


def test_a_supervisord_config_with_includes_groups_numprocs_and_env_imports_and_loads(
    tmp_path: Path,
) -> None:
    result, out = imported(tmp_path, CORPUS / "supervisord" / "supervisord.conf")
    config = load_config(out)
    programs = {program.name: program for program in config.programs}
    assert sorted(programs) == ["web", "worker"]
    web = programs["web"]
    assert web.numprocs == 2
    assert web.restart.mode == "always"
    assert web.restart.start_limit.burst == 4  # the first start and startretries=3
    assert web.stop_timeout == 5
    assert (web.logs.max_bytes, web.logs.backups) == (50 * 1024 * 1024, 10)
    data = tomllib.loads(out.read_text())
    web_table = data["programs"]["web"]
    # 80%(process_num)02d is 8000 and 8001: folded into {index} arithmetic, exactly.
    assert "--port={8000+index}" in web_table["command"]
    assert "--name=web-site" in web_table["command"]  # %(program_name)s-%(group_name)s
    assert web_table["environment"]["DEPLOY_USER"] == "deploy"  # %(ENV_CORRAL_IMPORT_USER)s
    assert web_table["environment"]["WORKER_ID"] == "{index}"
    assert web_table["environment"]["LANG"] == "C.UTF-8"  # [supervisord] environment
    assert data["daemon"]["log_dir"] == str(CORPUS / "supervisord" / "logs")  # childlogdir
    worker = data["programs"]["worker"]
    assert worker["restart"] == "on-failure"  # autorestart=unexpected
    assert worker["exit_codes"] == [0, 2]
    assert worker["sandbox"] == {"umask": "022"}
    web_conf = CORPUS / "supervisord" / "conf.d" / "web.conf"
    report = result.stderr_text
    assert f"{web_conf}:15: stdout_logfile: dropped" in report
    assert f"{web_conf}:19: %(ENV_CORRAL_IMPORT_USER)s: expanded at import" in report
    assert f"{web_conf}:10: startretries: approximated" in report
    assert f"{web_conf}:9: startsecs: mapped to start_seconds, the same test" in report
    assert f"{CORPUS / 'supervisord' / 'supervisord.conf'}:21: [group:site]: dropped" in report
    assert (
        f"{CORPUS / 'supervisord' / 'supervisord.conf'}:28: [inet_http_server]: dropped" in report
    )
    assert "Traceback" not in report
    assert (
        "Expanded at import from the importing environment: $CORRAL_IMPORT_USER" in out.read_text()
    )


def test_the_ini_dialect_continuations_colons_inline_comments_and_env_in_include(
    tmp_path: Path,
) -> None:
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "q.conf").write_text(
        "[program:q]\n"
        "command: sleep 300 ; a comment\n"
        "numprocs = 3\n"
        "numprocs_start = 10\n"
        "environment =\n"
        "    QUEUE=%(process_num)d,\n"
        '    NAME="%(program_name)s, a queue"\n'
    )
    main = tmp_path / "main.conf"
    main.write_text("[include]\nfiles = %(ENV_CORRAL_IMPORT_USER)s/*.conf none/*.conf\n")
    result = corral_import(str(main), env={"CORRAL_IMPORT_USER": str(tmp_path / "extra")})
    assert result.exit_code == 0, result.stderr_text
    q = tomllib.loads(result.stdout_text)["programs"]["q"]
    assert q["command"] == ["sleep", "300"]
    assert q["numprocs"] == 3
    assert q["environment"] == {"QUEUE": "{10+index}", "NAME": "q, a queue"}
    assert "q.conf:4: numprocs_start: approximated" in result.stderr_text


def test_a_django_celery_config_maps_users_priorities_and_fcgi_sockets(tmp_path: Path) -> None:
    result, out = imported(tmp_path, CORPUS / "django-celery.conf")
    data = tomllib.loads(out.read_text())
    assert sorted(programs_of(out)) == ["celery", "celerybeat", "gunicorn", "php"]
    assert data["programs"]["celery"]["stop_timeout"] == 600
    assert data["programs"]["celery"]["priority"] == 1000
    assert data["programs"]["gunicorn"]["sandbox"] == {"user": "nobody"}
    assert data["programs"]["gunicorn"]["environment"]["PATH"].startswith("/srv/venv/bin:")
    assert data["sockets"]["php"] == {"listen": "127.0.0.1:9000"}
    assert data["programs"]["php"]["sockets"] == ["php"]
    assert "[eventlistener:memmon]: dropped" in result.stderr_text


def test_a_heroku_procfile_runs_each_type_under_sh_with_foreman_ports(tmp_path: Path) -> None:
    _, out = imported(tmp_path, CORPUS / "Procfile")
    data = tomllib.loads(out.read_text())["programs"]
    assert list(data) == ["web", "worker", "clock", "release"]
    assert data["web"]["command"][:2] == ["/bin/sh", "-c"]
    assert [data[name]["environment"]["PORT"] for name in data] == ["5000", "5100", "5200", "5300"]
    assert data["release"]["autostart"] is False
    assert data["release"]["restart"] == "never"
    assert sorted(programs_of(out)) == ["clock", "release", "web", "worker"]


def test_a_pm2_ecosystem_js_file_of_plain_data_imports(tmp_path: Path) -> None:
    result, out = imported(tmp_path, CORPUS / "ecosystem.config.js")
    data = tomllib.loads(out.read_text())["programs"]
    api, queue = data["api"], data["queue"]
    assert api["numprocs"] == 4
    assert api["command"] == ["node", "--max-old-space-size=256", "./dist/server.js"]
    assert api["environment"]["PORT"] == "{3000+index}"  # increment_var
    assert api["environment"]["NODE_APP_INSTANCE"] == "{index}"
    assert api["stop_timeout"] == 3.0  # kill_timeout is milliseconds
    assert api["logs"] == {"timestamps": True}
    assert queue["command"] == ["python3", "worker.py", "--concurrency", "2"]
    assert queue["restart"] == "on-failure"  # stop_exit_codes
    assert queue["start_seconds"] == 5.0
    assert queue["backoff"]["initial"] == 1.0  # restart_delay: 1e3 ms
    source = CORPUS / "ecosystem.config.js"
    assert f"{source}:13: max_memory_restart: dropped" in result.stderr_text
    assert f"{source}:19: env_production: dropped" in result.stderr_text
    assert sorted(programs_of(out)) == ["api", "queue"]


def test_a_pm2_json_file_imports(tmp_path: Path) -> None:
    result, out = imported(tmp_path, CORPUS / "ecosystem.json")
    data = tomllib.loads(out.read_text())["programs"]
    assert data["static"]["command"] == ["python3", "-m", "http.server", "8080"]
    assert data["static"]["directory"] == str(CORPUS / "public")
    assert data["static"]["restart"] == "never"
    assert data["cron-ish"]["command"] == ["bash", "bin/tick.sh"]
    assert data["cron-ish"]["environment"] == {"INTERVAL": "60", "VERBOSE": "true"}
    assert "cron_restart: dropped" in result.stderr_text
    assert sorted(programs_of(out)) == ["cron-ish", "static"]


def test_env_merges_a_pm2_apps_env_name_over_its_env(tmp_path: Path) -> None:
    result, out = imported(tmp_path, CORPUS / "ecosystem.config.js", "--env", "production")
    environment = tomllib.loads(out.read_text())["programs"]["api"]["environment"]
    assert environment["NODE_ENV"] == "production"
    assert environment["PORT"] == "{3000+index}"
    assert "ecosystem.config.js:19: env_production: merged over env" in result.stderr_text


def test_env_is_only_for_pm2_files() -> None:
    result = corral_import(str(CORPUS / "Procfile"), "--env", "production")
    assert result.exit_code == 2
    assert "expected a PM2 ecosystem file with --env; got a procfile file" in result.stderr_text


def test_a_pm2_key_this_import_does_not_know_is_dropped_and_reported(tmp_path: Path) -> None:
    source = tmp_path / "ecosystem.json"
    source.write_text('{"apps": [{"script": "a.js",\n  "instances": "max",\n  "shiny": 1}]}')
    result, out = imported(tmp_path, source)
    assert f"{source}:3: shiny: dropped: not a PM2 setting this import knows" in result.stderr_text
    assert tomllib.loads(out.read_text())["programs"]["a"]["numprocs"] == os.cpu_count()


def test_the_toml_goes_to_stdout_without_o_and_the_report_to_stderr() -> None:
    result = corral_import(str(CORPUS / "Procfile"))
    assert result.exit_code == 0, result.stderr_text
    assert tomllib.loads(result.stdout_text)["programs"]["web"]["environment"] == {"PORT": "5000"}
    assert "Procfile:2: web: approximated" in result.stderr_text
    assert "[programs" not in result.stderr_text


def test_from_forces_the_format_of_a_file_named_otherwise(tmp_path: Path) -> None:
    source = tmp_path / "processes.txt"
    source.write_text((CORPUS / "Procfile").read_text())
    _, out = imported(tmp_path, source, "--from", "procfile")
    assert sorted(programs_of(out)) == ["clock", "release", "web", "worker"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("; services\n[program:web]\ncommand=sleep 300\n", "supervisord"),
        ("module.exports = { apps: [{ script: 'x.py' }] };\n", "pm2"),
        ("web: sleep 300\n", "procfile"),
    ],
)
def test_a_file_named_nothing_telling_is_recognised_by_its_content(
    tmp_path: Path, text: str, kind: str
) -> None:
    source = tmp_path / "services"
    source.write_text(text)
    result, _ = imported(tmp_path, source)
    assert f"{source} ({kind})" in result.stderr_text


def test_an_existing_output_is_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "corral.toml"
    out.write_text("mine\n")
    refused = corral_import(str(CORPUS / "Procfile"), "-o", str(out))
    assert refused.exit_code == 2
    assert f"{out} exists: pass --force" in refused.stderr_text
    assert out.read_text() == "mine\n"
    forced = corral_import(str(CORPUS / "Procfile"), "-o", str(out), "--force")
    assert forced.exit_code == 0, forced.stderr_text
    assert sorted(programs_of(out)) == ["clock", "release", "web", "worker"]
    assert [p.name for p in tmp_path.iterdir()] == ["corral.toml"]  # no temporary left
    assert out.stat().st_mode & 0o777 == 0o600  # it may hold expanded environment values


def test_the_imported_supervisord_config_runs_in_a_real_daemon(tmp_path: Path) -> None:
    """Its programs reach RUNNING, and instance 1 got supervisord's process_num port, 8001."""
    result = corral_import(str(CORPUS / "supervisord" / "supervisord.conf"))
    assert result.exit_code == 0, result.stderr_text
    programs = re.sub(r"(?ms)^\[daemon\]\n.*?(?=^\[)", "", result.stdout_text)  # the test's own
    with running_daemon(tmp_path, programs) as daemon:
        rows = [daemon.wait_state(name, "RUNNING") for name in ("web:0", "web:1", "worker:0")]
        cmdline = Path(f"/proc/{rows[1]['pid']}/cmdline").read_bytes().split(b"\0")
        assert b"--port=8001" in cmdline
        assert b"--name=web-site" in cmdline


APP = (
    "import os, sys, time\nprint(*sys.argv[1:], os.environ['PORT'], flush=True)\ntime.sleep(300)\n"
)
"""A program that prints its arguments and PORT, then runs until stopped."""


def logged(daemon: Daemon, instance: str) -> str:
    """The instance's stdout log once it holds a line."""
    path = daemon.log_path(instance)
    text = wait_until(lambda: path.exists() and path.read_text().strip(), what=f"{instance} logs")
    return str(text)


def test_an_imported_procfile_runs_each_type_with_its_foreman_port(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"web: python3 {tmp_path}/app.py web\nworker: python3 {tmp_path}/app.py w\n"
    )
    result = corral_import(str(procfile))
    assert result.exit_code == 0, result.stderr_text
    (tmp_path / "run").mkdir()
    with running_daemon(tmp_path / "run", result.stdout_text) as daemon:
        for name in ("web:0", "worker:0"):
            daemon.wait_state(name, "RUNNING")
        assert logged(daemon, "web:0").endswith("web 5000")
        assert logged(daemon, "worker:0").endswith("w 5100")


def test_an_imported_pm2_app_runs_its_instances_with_incremented_ports(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    source = tmp_path / "ecosystem.config.js"
    source.write_text(
        "module.exports = {\n  apps: [{\n    name: 'api',\n    script: 'app.py',\n"
        "    args: 'api',\n    instances: 2,\n    env: { PORT: 3000 },\n"
        "    increment_var: 'PORT',\n  }],\n};\n"
    )
    result = corral_import(str(source))
    assert result.exit_code == 0, result.stderr_text
    (tmp_path / "run").mkdir()
    with running_daemon(tmp_path / "run", result.stdout_text) as daemon:
        rows = [daemon.wait_state(f"api:{index}", "RUNNING") for index in (0, 1)]
        assert logged(daemon, "api:0").endswith("api 3000")
        assert logged(daemon, "api:1").endswith("api 3001")
        environ = Path(f"/proc/{rows[1]['pid']}/environ").read_bytes().split(b"\0")
        assert b"NODE_APP_INSTANCE=1" in environ


BAD = {
    "unknown section": (
        "x.conf",
        "[programme:web]\ncommand=true\n",
        1,
        "a section supervisord knows",
    ),
    "bad line": (
        "x.conf",
        "[program:web]\ncommand=true\nthis is not a setting\n",
        3,
        "key = value",
    ),
    "unbalanced expansion": (
        "x.conf",
        "[program:web]\ncommand=echo %(ENV_HOME\n",
        2,
        "a closed expansion",
    ),
    "unknown expansion": ("x.conf", "[program:web]\ncommand=echo %(nope)s\n", 2, "expansion"),
    "unset variable": (
        "x.conf",
        "[program:web]\n\ncommand=echo %(ENV_CORRAL_IMPORT_UNSET)s\n",
        3,
        "CORRAL_IMPORT_UNSET set when importing",
    ),
    "a key twice": ("x.conf", "[program:web]\ncommand=true\ncommand=false\n", 3, "each key once"),
    "a section twice": (
        "x.conf",
        "[program:web]\ncommand=true\n[program:web]\ncommand=false\n",
        3,
        "each section once",
    ),
    "missing include": (
        "x.conf",
        "[include]\nfiles = missing.conf\n",
        2,
        "an included file that exists",
    ),
    "unknown key": (
        "x.conf",
        "[program:web]\ncommand=true\nautorestrat=true\n",
        3,
        "did you mean autorestart",
    ),
    "user this machine lacks": (
        "x.conf",
        "[program:web]\ncommand=true\nuser=corral-no-such-user\n",
        3,
        "corral refuses it as programs.web.sandbox.user",
    ),
    "a function in a js file": (
        "ecosystem.config.js",
        "module.exports = {\n  apps: [{\n    name: 'x',\n"
        "    script: (() => 'x.js')(),\n  }],\n};\n",
        4,
        "plain data",
    ),
    "process.env in a js file": (
        "ecosystem.config.js",
        "module.exports = {\n  apps: [{ script: 'x.js', env: { A: process.env.A } }],\n};\n",
        2,
        "plain data",
    ),
    "code after the export": (
        "ecosystem.config.js",
        "module.exports = { apps: [] };\nrequire('child_process');\n",
        2,
        "nothing after the exported data",
    ),
    "a procfile line without a command": ("Procfile", "web: run\nworker:\n", 2, "NAME: COMMAND"),
    "a NUL byte in a value": (
        "ecosystem.json",
        '{"apps": [{"script": "x.js",\n  "user": "a\\u0000b"}]}',
        2,
        "a value without NUL bytes",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_at_its_file_and_line_and_nothing_is_written(
    tmp_path: Path, case: str
) -> None:
    name, text, line, expected = BAD[case]
    source = tmp_path / name
    source.write_text(text)
    out = tmp_path / "out.toml"
    result = corral_import(str(source), "-o", str(out))
    assert result.exit_code == 2, result.stderr_text
    assert f"{source}:{line}: " in result.stderr_text
    assert expected in result.stderr_text
    assert "Traceback" not in result.stderr_text
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_non_utf8_file_is_refused_with_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    source = tmp_path / "latin1.conf"
    source.write_bytes(b"[program:caf\xc3\xa9]\ncommand=echo\n; caf\xe9\n")
    result = corral_import(str(source))
    assert result.exit_code == 2
    assert f"{source}:3: expected UTF-8 text; got the byte 0xe9" in result.stderr_text
    assert result.stdout_text == ""


def test_an_unreadable_file_is_refused_by_name(tmp_path: Path) -> None:
    result = corral_import(str(tmp_path / "absent.conf"))
    assert result.exit_code == 2
    assert f"{tmp_path / 'absent.conf'}: expected a readable file" in result.stderr_text
    assert "Traceback" not in result.stderr_text
    assert os.listdir(tmp_path) == []
