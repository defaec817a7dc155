"""What a run can do in a real `soma sandbox`: the data libraries, files in and out, output as it comes."""

from __future__ import annotations

import contextlib

from soma.sandbox import protocol
from tests import sandboxes
from tests.sandboxes import Service

CSV = b"city,sales\nOslo,10\nLima,32\nOslo,5\n"


async def test_pandas_and_numpy_import_and_compute_on_a_file_of_the_chat(sandbox: Service) -> None:
    code = "import numpy as np, pandas as pd\ntotals = pd.read_csv('data/sales.csv').groupby('city').sales.sum()\nprint(totals.to_dict(), np.mean(totals.values))"
    ran = await sandboxes.run(sandbox, "python", code, files=[("data/sales.csv", CSV)])

    assert (ran.stdout, ran.stderr, ran.result.exit_code) == ("{'Lima': 32, 'Oslo': 15} 23.5\n", "", 0)
    assert (ran.result.changed, ran.result.deleted) == ([], [])


async def test_matplotlib_writes_a_png_that_comes_back_in_changed(sandbox: Service) -> None:
    code = "import matplotlib.pyplot as plt\nplt.bar(['Oslo', 'Lima'], [15, 32])\nplt.savefig('charts/sales.png')"
    ran = await sandboxes.run(sandbox, "python", "import os\nos.makedirs('charts')\n" + code)

    assert (ran.stderr, ran.result.exit_code) == ("", 0)
    [(path, png)] = ran.result.changed
    assert path == "charts/sales.png"
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


async def test_a_deleted_file_comes_back_in_deleted_and_an_unchanged_one_nowhere(sandbox: Service) -> None:
    files = [("keep.txt", b"same"), ("old/gone.txt", b"bye"), ("edit.txt", b"before"), ("locked.txt", b"mine")]
    code = "rm old/gone.txt\necho same > keep.txt.new && printf same > keep.txt\nprintf after > edit.txt\nchmod 000 locked.txt\nrm keep.txt.new"
    ran = await sandboxes.run(sandbox, "shell", code, files=files)

    assert ran.result.exit_code == 0
    assert ran.result.changed == [("edit.txt", b"after")]  # a file the code only locked still comes back, unchanged
    assert ran.result.deleted == ["old/gone.txt"]


async def test_shell_code_runs_in_bash_in_the_workspace_and_python_imports_the_chats_modules(sandbox: Service) -> None:
    shell = await sandboxes.run(sandbox, "shell", "pwd; echo $HOME; echo ${BASH_VERSION:+bash}; python -c 'import helper; helper.hi()'",
                                files=[("helper.py", b"def hi():\n    print('hi from the chat')\n")])  # fmt: skip
    python = await sandboxes.run(sandbox, "python", "import helper\nhelper.hi()", files=[("helper.py", b"def hi():\n    print('hi')\n")])

    assert shell.stdout == "/workspace\n/workspace\nbash\nhi from the chat\n"
    assert python.stdout == "hi\n"
    assert python.result.changed == []  # no __pycache__ of the chat's module


async def test_binary_files_in_nested_directories_round_trip_byte_for_byte(sandbox: Service) -> None:
    data = bytes(range(256)) * 1000
    ran = await sandboxes.run(sandbox, "python", "d = open('a/b/c.bin', 'rb').read()\nopen('a/b/d.bin', 'wb').write(d[::-1])",
                              files=[("a/b/c.bin", data)])  # fmt: skip

    assert ran.result.changed == [("a/b/d.bin", data[::-1])]


async def test_output_streams_while_the_run_goes_on(sandbox: Service) -> None:
    code = "import time\nprint('first', flush=True)\nimport sys\nprint('on stderr', file=sys.stderr)\ntime.sleep(600)"
    seen = {"stdout": "", "stderr": ""}
    async with contextlib.aclosing(sandbox.client().run(protocol.RunRequest("python", code))) as events:
        async for event in events:
            assert isinstance(event, protocol.Output)  # no result: the run is still going
            seen[event.stream] += event.text
            if all(text.endswith("\n") for text in seen.values()):
                break

    assert seen == {"stdout": "first\n", "stderr": "on stderr\n"}
    await sandboxes.still_serves(sandbox)


async def test_a_failing_program_reports_its_exit_code_and_no_reason(sandbox: Service) -> None:
    ran = await sandboxes.run(sandbox, "shell", "echo oops >&2; exit 3")

    assert (ran.stderr, ran.result.exit_code, ran.result.reason, ran.result.message) == ("oops\n", 3, None, None)
