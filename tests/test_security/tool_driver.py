"""Run a command-line tool several times in one process, as
``python TOOL ARGS`` would, and report how each run ended.

Usage: ``python tool_driver.py RUNS.json``, where the file holds a list of
``{"tool": path, "argv": [...], "env": {...}}``. For each run the
environment variables are set, the tool is run as ``__main__`` with
``sys.argv = [tool, *argv]`` and a line ``@@RESULT <json>`` is printed:
``{"run": i, "error": null}`` or the exception's type and message. One
process for many runs keeps the attack suite fast; a crash (a signal)
ends the process, which the tests see in its return code.
"""
import json
import os
import runpy
import sys
import traceback


def main() -> None:
    with open(sys.argv[1]) as f:
        runs = json.load(f)
    for i, run in enumerate(runs):
        os.environ.update(run.get('env', {}))
        sys.argv = [run['tool'], *run['argv']]
        result = {'run': i, 'error': None, 'message': None}
        try:
            runpy.run_path(run['tool'], run_name='__main__')
        except BaseException as e:  # noqa: BLE001 - reported, not handled
            result.update(error=type(e).__name__, message=str(e))
            traceback.print_exc()
        for name in run.get('env', {}):
            os.environ.pop(name, None)
        print('@@RESULT ' + json.dumps(result), flush=True)


if __name__ == '__main__':
    main()
