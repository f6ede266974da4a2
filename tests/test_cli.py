"""The command line: help everywhere, exit codes, config and secrets commands."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from btconsole import __version__
from btconsole.cli import build_parser, main
from btconsole.secretstore import SERVICE
from tests.keyrings import MemoryKeyring

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
PROFILE = f"""
[profiles.contoso]
tenant_id = "{TENANT}"
auth = "client-secret"
client_id = "{CLIENT}"
client_secret_env = "CONTOSO_SECRET"
"""

SUBCOMMANDS = [
    [],
    ["demo"],
    ["emulator"],
    ["emulator", "serve"],
    ["check"],
    ["export"],
    ["doctor"],
    ["config"],
    ["config", "path"],
    ["config", "show"],
    ["config", "validate"],
    ["config", "init"],
    ["secrets"],
    ["secrets", "set"],
    ["secrets", "delete"],
    ["secrets", "status"],
]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def write_config(tmp_path: Path, text: str = PROFILE) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=lambda w: " ".join(w) or "btconsole")
def test_help_on_every_subcommand(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*words, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: btconsole")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"btconsole {__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        ["check", "--format", "xml"],
        ["export"],
        ["export", "arc"],
        ["config"],
        ["secrets", "set"],
        ["secrets", "set", "contoso", "s3cret-on-argv"],
        ["emulator", "serve", "--size", "gigantic"],
        ["demo", "--seed", "many"],
    ],
)
def test_usage_errors_exit_64(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 64
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["check", "--all"],
        ["export", "arc", "--format", "csv"],
        ["doctor"],
        ["config", "show"],
        ["config", "validate"],
        ["secrets", "status", "contoso"],
        ["secrets", "set", "contoso", "--stdin"],
        ["secrets", "delete", "contoso"],
    ],
)
def test_config_errors_exit_64_in_every_subcommand(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, PROFILE + "bogus = 1\n")
    code, _, err = run(["--config", str(path), *argv], capsys)
    assert code == 64
    assert f"{path}:" in err and "bogus: unknown key" in err
    assert "Traceback" not in err


def test_config_option_after_subcommand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path)
    code, out, _ = run(["config", "validate", "--config", str(path)], capsys)
    assert code == 0
    assert "OK (1 profile(s): contoso)" in out


def test_validate_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(
        tmp_path, '[profiles.a]\ntenant_id = "x"\nauth = "nope"\n[profiles.b]\nauth = "cli"\n'
    )
    code, _, err = run(["config", "validate", "--config", str(path)], capsys)
    assert code == 64
    lines = err.strip().splitlines()
    assert len(lines) == 4, lines
    assert lines[-1] == "btconsole: 3 configuration problems"


def test_validate_without_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["config", "validate"], capsys)
    assert code == 64
    assert "btconsole config init" in err


def test_init_then_validate_then_no_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sub" / "config.toml"
    code, _, _ = run(["config", "init", "--config", str(path)], capsys)
    assert code == 0 and path.is_file()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert run(["config", "validate", "--config", str(path)], capsys)[0] == 0
    path.write_text("# mine\n", encoding="utf-8")
    code, _, err = run(["config", "init", "--config", str(path)], capsys)
    assert code == 64 and "--force" in err
    assert path.read_text(encoding="utf-8") == "# mine\n"
    assert run(["config", "init", "--config", str(path), "--force"], capsys)[0] == 0
    assert "[profiles.contoso]" in path.read_text(encoding="utf-8")


def test_init_template_example_profile_validates(tmp_path: Path) -> None:
    """The commented example in the starter is itself a valid profile once uncommented."""
    from btconsole.config import load_config
    from btconsole.configtools import STARTER

    lines = []
    for line in STARTER.splitlines():
        if line.startswith("# ") and ("=" in line or line.startswith("# [")):
            candidate = line[2:]
            if not candidate.startswith(("#", " ")):
                lines.append(candidate)
                continue
        lines.append(line)
    path = write_config(tmp_path, "\n".join(lines))
    config = load_config(path)
    assert config.profile("contoso").subscriptions is None
    assert config.profile("contoso").ttl.circuits == 120.0


def test_show_masks_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTOSO_SECRET", "super-secret-value")
    path = write_config(tmp_path)
    code, out, _ = run(["config", "show", "--config", str(path)], capsys)
    assert code == 0
    assert "super-secret-value" not in out
    assert "from $CONTOSO_SECRET (set, ********)" in out
    assert 'arc = "5m"' in out
    # what show prints is itself a valid config with the same meaning
    from btconsole.config import load_config

    shown = tmp_path / "shown.toml"
    shown.write_text(out, encoding="utf-8")
    assert load_config(shown).profiles == load_config(path).profiles


def test_path_honours_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTCONSOLE_CONFIG", str(tmp_path / "x.toml"))
    code, out, _ = run(["config", "path"], capsys)
    assert code == 0 and out.startswith(str(tmp_path / "x.toml"))


def test_secrets_set_from_stdin(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    path = write_config(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("p@ss word\n"))
    code, out, _ = run(["secrets", "set", "contoso", "--stdin", "--config", str(path)], capsys)
    assert code == 0, out
    assert memory_keyring.store[(SERVICE, "contoso")] == "p@ss word"
    assert "p@ss" not in out
    code, out, _ = run(["secrets", "status", "contoso", "--config", str(path)], capsys)
    assert code == 0 and "stored in keyring" in out
    code, out, _ = run(["secrets", "delete", "contoso", "--config", str(path)], capsys)
    assert code == 0 and (SERVICE, "contoso") not in memory_keyring.store
    code, out, _ = run(["secrets", "status", "contoso", "--config", str(path)], capsys)
    assert code == 1 and "btconsole secrets set contoso" in out


def test_secrets_set_hidden_prompt(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    path = write_config(tmp_path)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []
    monkeypatch.setattr(sys, "stdin", Tty(""))
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or "typed")
    code, _, _ = run(["secrets", "set", "contoso", "--config", str(path)], capsys)
    assert code == 0
    assert prompts and "input hidden" in prompts[0]
    assert memory_keyring.store[(SERVICE, "contoso")] == "typed"


def test_secrets_set_without_tty_or_stdin(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    path = write_config(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("x\n"))
    code, _, err = run(["secrets", "set", "contoso", "--config", str(path)], capsys)
    assert code == 64 and "--stdin" in err
    assert memory_keyring.store == {}


def test_secrets_unknown_profile_and_wrong_auth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], memory_keyring: MemoryKeyring
) -> None:
    path = write_config(
        tmp_path, PROFILE + f'[profiles.cli]\ntenant_id = "{TENANT}"\nauth = "cli"\n'
    )
    code, _, err = run(["secrets", "status", "nope", "--config", str(path)], capsys)
    assert code == 64 and "no profile named 'nope' (profiles: cli, contoso)" in err
    code, _, err = run(["secrets", "set", "cli", "--stdin", "--config", str(path)], capsys)
    assert code == 64 and "takes no secret" in err


def test_console_without_profiles_explains(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([], capsys)
    assert code == 64
    assert "btconsole config init" in err and "btconsole demo" in err


def test_internal_errors_never_show_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(_: object) -> str:
        raise RuntimeError("kaboom")

    monkeypatch.setattr("btconsole.configtools.render_effective", boom)
    code, _, err = run(["config", "show"], capsys)
    assert code == 70
    assert "internal error: RuntimeError: kaboom" in err and "Traceback" not in err


def _installed(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("btconsole")
    return subprocess.run(
        [str(exe), *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def _env(tmp_path: Path, backend: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BTCONSOLE_", "PYTHON_KEYRING"))
    }
    env.update(
        HOME=str(tmp_path),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "cfg"),
        PYTHON_KEYRING_BACKEND=backend,
    )
    return env


def test_installed_command_with_no_keyring_backend(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    env = _env(tmp_path, "keyring.backends.fail.Keyring")
    result = _installed(
        "secrets", "set", "contoso", "--stdin", "--config", str(path), env=env, stdin="s\n"
    )
    assert result.returncode == 69
    assert result.stderr.count("\n") == 1, result.stderr
    assert "no usable keyring backend" in result.stderr and "Traceback" not in result.stderr
    result = _installed("secrets", "status", "contoso", "--config", str(path), env=env)
    assert result.returncode == 1 and "CONTOSO_SECRET not set" in result.stdout
    env["CONTOSO_SECRET"] = "from-env"
    result = _installed("secrets", "status", "contoso", "--config", str(path), env=env)
    assert result.returncode == 0 and "from environment variable CONTOSO_SECRET" in result.stdout


def test_installed_command_plaintext_backend_needs_opt_in(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    env = _env(tmp_path, "keyrings.alt.file.PlaintextKeyring")
    result = _installed(
        "secrets", "set", "contoso", "--stdin", "--config", str(path), env=env, stdin="s\n"
    )
    assert result.returncode == 69 and "plaintext; refused" in result.stderr
    path.write_text("allow_plaintext_keyring = true\n" + PROFILE, encoding="utf-8")
    result = _installed(
        "secrets", "set", "contoso", "--stdin", "--config", str(path), env=env, stdin="s3\n"
    )
    assert result.returncode == 0, result.stderr
    result = _installed("secrets", "status", "contoso", "--config", str(path), env=env)
    assert result.returncode == 0 and "stored in keyring" in result.stdout


def test_parser_has_every_documented_command() -> None:
    parser = build_parser()
    text = parser.format_help()
    for command in ("demo", "emulator", "check", "export", "doctor", "config", "secrets"):
        assert command in text


# ------------------------------------------------------------- secrets set: keyring first

BTCONSOLE = str(Path(sys.executable).with_name("btconsole"))
NULL_KEYRING = "keyring.backends.null.Keyring"
FILE_KEYRING = "keyrings.alt.file.PlaintextKeyring"


def _set_on_a_terminal(
    path: Path, env: dict[str, str], answer: str | None
) -> subprocess.CompletedProcess[bytes]:
    """``secrets set`` with a terminal (a pty) as stdin and no controlling terminal, so
    getpass prompts on stderr and reads the pty. ``answer`` is typed once the prompt
    has appeared (getpass flushes what was typed before); None types nothing."""
    import pty

    exe = Path(sys.executable).with_name("btconsole")
    controller, terminal = pty.openpty()
    try:
        with subprocess.Popen(
            [str(exe), "secrets", "set", "contoso", "--config", str(path)],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        ) as process:
            assert process.stderr is not None and process.stdout is not None
            err = b""
            if answer is not None:
                while b"(input hidden): " not in err:
                    chunk = os.read(process.stderr.fileno(), 4096)
                    assert chunk, f"no prompt: {err!r}"
                    err += chunk
                os.write(controller, answer.encode())
            out, rest = process.communicate(timeout=60)
            return subprocess.CompletedProcess(process.args, process.returncode, out, err + rest)
    finally:
        os.close(terminal)
        os.close(controller)


def test_installed_secrets_set_without_keyring_says_so_before_any_prompt(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path)
    env = _env(tmp_path, NULL_KEYRING)
    # on a terminal the old command prompted first (and waited), then said there was
    # no keyring
    result = _set_on_a_terminal(path, env, None)
    err = result.stderr.decode()
    assert result.returncode == 69, err
    assert err.count("\n") == 1, err
    assert "secret for profile" not in err and result.stdout == b""  # no prompt
    assert "CONTOSO_SECRET" in err and "no usable keyring" in err
    assert "secrets set" not in err  # never "run the command you just ran"
    assert "Traceback" not in err
    # stdin closed: the same line (not "no terminal to prompt on")
    closed = subprocess.run(
        [BTCONSOLE, "secrets", "set", "contoso", "--config", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert closed.returncode == 69 and closed.stderr == err
    # --stdin: checked before reading too
    piped = _installed(
        "secrets", "set", "contoso", "--stdin", "--config", str(path), env=env, stdin="s\n"
    )
    assert piped.returncode == 69 and piped.stderr == err


def test_installed_secrets_set_without_keyring_names_a_variable_for_the_profile(
    tmp_path: Path,
) -> None:
    # no client_secret_env in the profile: the line suggests one and the key to set
    text = PROFILE.replace('client_secret_env = "CONTOSO_SECRET"\n', "").replace(
        "[profiles.contoso]", "[profiles.contoso-retail]"
    )
    path = write_config(tmp_path, text)
    env = _env(tmp_path, NULL_KEYRING)
    result = subprocess.run(
        [BTCONSOLE, "secrets", "set", "contoso-retail", "--config", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 69
    assert result.stderr.count("\n") == 1, result.stderr
    assert 'client_secret_env = "CONTOSO_RETAIL_CLIENT_SECRET"' in result.stderr


def test_installed_secrets_set_with_a_file_keyring_prompts_and_stores(tmp_path: Path) -> None:
    path = write_config(tmp_path, "allow_plaintext_keyring = true\n" + PROFILE)
    env = _env(tmp_path, FILE_KEYRING)
    result = _set_on_a_terminal(path, env, "typed-secret\n")
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert "secret for profile 'contoso' (input hidden)" in err  # it did prompt
    assert b"stored the secret of profile 'contoso'" in result.stdout
    status = _installed("secrets", "status", "contoso", "--config", str(path), env=env)
    assert status.returncode == 0 and "stored in keyring" in status.stdout
    # refused plaintext: said before the prompt, naming the variable
    path.write_text(PROFILE, encoding="utf-8")
    result = _set_on_a_terminal(path, env, None)
    err = result.stderr.decode()
    assert result.returncode == 69 and "secret for profile" not in err
    assert err.count("\n") == 1 and "CONTOSO_SECRET" in err and "plaintext" in err
