"""Run a lab (docs/labs/*.md) the way a learner would: every command, in one shell.

A lab is Markdown. Each command a learner types sits in a fenced block marked ``console``,
on a line starting ``$ ``; lines starting ``> `` continue it (a here-document, say), as a
shell's PS2 prompt shows them. Lines ``# expect: TEXT`` right after a command are fragments
its output must contain. Other lines are sample output for the reader and are not checked.

``parse_lab`` turns the text into ``Step``s. ``LabSession`` runs them in a single
``bash`` process (so ``NETNS=$(...)`` set by one step is there for the next), after
``Renames`` has rewritten the default names a learner types (``br0``, ``10.244.0.x``,
``mk-...``, ``minikube-py-proxy``, ``/var/lib/minikube-py``) into the test's own, and refuses
to run a command that still names a default object. A step whose output lacks an expected
fragment, or that exits non-zero, is run again for a few seconds — as a learner would,
since controllers and kube-proxy catch up asynchronously — and then fails the lab with the
transcript so far.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

#: Default names that must never reach the shell in a test (DESIGN.md's safety rules).
FORBIDDEN = [r"\bbr0\b", r"minikube-py-proxy", r"10\.244\.", r"\bmk-",
             r"/var/lib/minikube-py", r"/var/log/pods"]


@dataclass
class Step:
    command: str
    expects: list[str] = field(default_factory=list)
    line: int = 0  # 1-based line of the ``$ `` in the Markdown file


def parse_lab(text: str) -> list[Step]:
    """The ``$`` commands of every ``console`` block, with their ``# expect:`` lines."""
    steps: list[Step] = []
    in_console = in_other = False
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            if in_console or in_other:
                in_console = in_other = False
            elif stripped == "```console":
                in_console = True
            else:
                in_other = True
            continue
        if not in_console:
            continue
        if raw.startswith("$ "):
            steps.append(Step(raw[2:], line=number))
        elif raw.startswith("> ") or raw == ">":
            if not steps:
                raise ValueError(f"line {number}: continuation without a command")
            steps[-1].command += "\n" + raw[2:]
        elif raw.startswith("# expect: "):
            if not steps:
                raise ValueError(f"line {number}: expectation without a command")
            steps[-1].expects.append(raw[len("# expect: "):])
    return steps


@dataclass
class Renames:
    """The test's names for what a lab calls by the default ones."""

    bridge: str
    prefix: str
    subnet_prefix: str  # "10.250.7." for 10.250.7.0/24
    nft_table: str
    state_dir: str
    log_dir: str
    up_args: str = ""   # appended to ``minikube-py up`` (free ports)
    registry_port: int = 5000  # a lab's registry on 127.0.0.1 (lab 4): a free port

    def apply(self, text: str) -> str:
        text = text.replace("minikube-py-proxy", f"{self.nft_table}-proxy")
        text = re.sub(r"\bbr0\b", self.bridge, text)
        text = re.sub(r"\bmk-", f"{self.prefix}-", text)
        text = text.replace("10.244.0.", self.subnet_prefix)
        text = text.replace("/var/lib/minikube-py", self.state_dir)
        text = text.replace("/var/log/pods", self.log_dir)
        text = text.replace("127.0.0.1:5000", f"127.0.0.1:{self.registry_port}")
        if self.up_args:
            text = re.sub(r"\bminikube-py up\b", f"minikube-py up {self.up_args}", text)
        return text


def check_safe(command: str) -> None:
    for pattern in FORBIDDEN:
        if re.search(pattern, command):
            raise AssertionError(f"lab command still names a default object ({pattern}): "
                                 f"{command!r}")


class LabSession:
    """One ``bash`` that runs commands one at a time and returns each one's output."""

    def __init__(self, env: dict[str, str], cwd: str) -> None:
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd, text=True,
            bufsize=1, start_new_session=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.transcript: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self._send("exec 2>&1\n")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def run(self, command: str, timeout: float = 120.0) -> tuple[str, int]:
        """Run ``command`` (stdin from /dev/null); its output (stdout + stderr), status."""
        marker = f"__lab_step_{secrets.token_hex(6)}__"
        self._send(f"{{ {command}\n}} </dev/null\nprintf '\\n{marker} %s\\n' \"$?\"\n")
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"timed out after {timeout:.0f}s: {command}\n"
                                     + "".join(out)) from None
            if line is None:
                raise AssertionError(f"the shell exited during: {command}\n" + "".join(out))
            if line.startswith(marker):
                text = "".join(out)
                text = text[:-1] if text.endswith("\n") else text
                return text, int(line.split()[1])
            out.append(line)

    def run_step(self, step: Step, renames: Renames, retry_for: float = 15.0) -> str:
        command = renames.apply(step.command)
        check_safe(command)
        expects = [renames.apply(e) for e in step.expects]
        deadline = time.monotonic() + retry_for
        while True:
            output, status = self.run(command)
            missing = [e for e in expects if e not in output]
            self.transcript.append(f"$ {command}\n{output}\n[exit {status}]\n")
            if status == 0 and not missing:
                return output
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"lab line {step.line}: `{command}` exited {status}; missing {missing}"
                    "\n--- transcript:\n" + "".join(self.transcript[-12:]))
            time.sleep(0.5)

    def close(self) -> None:
        """Leave the shell, then kill its process group: what a lab left running in the
        background (a registry, a port-forward) if it failed before its own ``kill``."""
        try:
            self._send("exit\n")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group bash led (its own session)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
