"""Where the demo's wall time goes: MD integration against the rest (issue 25).

One command (see ``benchmarks/README.md``)::

    python benchmarks/demo_budget.py [--md-steps 100 --equilibration-steps 50 | --full]

runs the demo itself (``examples/submit_sse.py``: one ``SseWorkChain``, protocol ``fast``, Li3N with CHGNet, in
this process as ``verdi run`` does) on a throw-away profile made as ``make demo`` makes one (``aiida-superionic
setup``: ``verdi presto --use-zeromq``, the ``localhost`` computer, ``superionic-python``), in a temporary
``AIIDA_PATH`` deleted at the end together with the jobs' folders. By default the MD is shortened (the demo's
800 steps per run take minutes on a shared machine); ``--full`` runs the demo as it is.

Every ``superionic.ase`` job records in its ``output_parameters['timings']`` (seconds since the epoch) when its
Python process started, when the calculator was ready (interpreter, imports and model loaded), when its task
started and ended and, for MD, when the integration loop started and ended. Calcfunctions (the descriptor
analyses, merging the rows, fits) span their node's creation to its last modification. On the time line of
the run, each instant is counted once, in the first of these that is running then:

1. **MD integration**: the loops of ``dynamics.run`` (frames written included);
2. **other calculator work**: relaxations and static force evaluations (elastic strains, phonon displacements,
   vacancy cells), and an MD job's task outside its loop;
3. **calcfunctions**: the analyses that run in the workchain's process;
4. **job start-up**: a job's interpreter start, imports (torch, CHGNet) and model load;
5. **driver start-up**: this process's start and imports up to the demo's (what ``verdi run`` spends before the
   demo starts; the profile's creation is not counted);
6. **the rest**: AiiDA's bookkeeping (workchain steps, storing nodes, uploading, submitting, polling,
   retrieving, parsing) and waiting for the next poll.

The jobs run concurrently (the stoichiometric MD beside the zero-temperature children, two MD runs at once), so
the wall-time split depends on the order above and on the load of the machine: the CPU time is split too, which
other jobs on the machine change much less: the jobs' CPU in MD loops, in other calculator work and before
their task (start-up), and this process's (imports, AiiDA's bookkeeping and the calcfunctions, which run in
it).

The target: the start-ups and the rest (the overhead, what the issue lists as "the rest") at most 25 % of the
wall time, and of the CPU time. With a shortened MD the split is also projected to the demo's MD length: each
MD loop scaled by the demo's steps over the steps run, everything else as measured.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib.util
import io
import itertools
import os
import pathlib
import shutil
import sys
import tempfile
import time

PROCESS_START = time.time()

# A throw-away AiiDA configuration, set before the first `import aiida` (read at import time); the jobs'
# folders go under it too (the localhost computer's work directory is made there).
_AIIDA_PATH = tempfile.mkdtemp(prefix='superionic-bench-demo-')
(pathlib.Path(_AIIDA_PATH) / '.aiida').mkdir()
os.environ['AIIDA_PATH'] = _AIIDA_PATH
atexit.register(shutil.rmtree, _AIIDA_PATH, ignore_errors=True)
os.environ.setdefault('OMP_NUM_THREADS', '1')

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import footer, header, target  # noqa: E402

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
DEMO = REPOSITORY / 'examples' / 'submit_sse.py'
#: Largest share of the demo's wall time that job start-up and AiiDA's bookkeeping may take.
OVERHEAD_TARGET = 0.25
CATEGORIES = (
    'MD integration',
    'other calculator work',
    'calcfunctions',
    'job start-up',
    'driver start-up',
    'the rest (AiiDA)',
)


def make_profile():
    """The profile and code of ``make demo`` (``aiida-superionic setup``) in the temporary configuration folder."""
    from aiida import load_profile, orm

    from aiida_superionic.cli.setup import ensure_localhost_python_code, ensure_profile

    with contextlib.redirect_stdout(io.StringIO()):
        name = ensure_profile('demo-budget')
    load_profile(name, allow_switch=True)
    computer = orm.load_computer('localhost')
    # the jobs' folders in the temporary folder, deleted with it
    computer.set_workdir(str(pathlib.Path(_AIIDA_PATH) / 'jobs'))
    return ensure_localhost_python_code()


def load_demo():
    spec = importlib.util.spec_from_file_location('superionic_demo', DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def intervals(workchain) -> tuple[list[tuple[float, float, int]], int, dict, list[float]]:
    """The intervals ``(start, end, category)`` of the run's jobs and calcfunctions, the number of jobs, the MD
    loops ``{pk: (start, end, steps, CPU seconds)}``, and the jobs' CPU seconds in MD loops, in other calculator
    work and in start-up."""
    from aiida import orm

    spans, md_loops, jobs, cpu = [], {}, 0, [0.0, 0.0, 0.0]
    for node in workchain.called_descendants:
        if isinstance(node, orm.CalcJobNode) and 'output_parameters' in node.outputs:
            output = node.outputs.output_parameters.get_dict()
            timings = output.get('timings')
            if not timings:
                continue
            jobs += 1
            start = timings['process_start'] or timings['main_start']
            spans.append((start, timings['task_start'], 3))
            spans.append((timings['task_start'], timings['task_end'], 1))
            cpu[2] += timings['task_start_cpu']  # since the process started: interpreter, imports, model
            cpu[1] += timings['task_end_cpu'] - timings['task_start_cpu']
            if 'md_loop_start' in timings:
                spans.append((timings['md_loop_start'], timings['md_loop_end'], 0))
                steps = output.get('equilibration_steps_done', 0) + output.get('production_steps_done', 0)
                md_loops[node.pk] = (timings['md_loop_start'], timings['md_loop_end'], steps, timings['md_loop_cpu'])
                cpu[0] += timings['md_loop_cpu']
                cpu[1] -= timings['md_loop_cpu']
        elif isinstance(node, orm.CalcFunctionNode):
            spans.append((node.ctime.timestamp(), node.mtime.timestamp(), 2))
    return spans, jobs, md_loops, cpu


def split(spans: list[tuple[float, float, int]], start: float, end: float) -> list[float]:
    """Seconds of ``[start, end]`` in each category: each instant in the first category running then, the
    instants in none in the last (the rest)."""
    edges = sorted({start, end, *(min(max(t, start), end) for span in spans for t in span[:2])})
    seconds = [0.0] * len(CATEGORIES)
    for low, high in itertools.pairwise(edges):
        middle = 0.5 * (low + high)
        running = [category for first, last, category in spans if first <= middle < last]
        seconds[min(running, default=len(CATEGORIES) - 1)] += high - low
    return seconds


def print_split(title: str, seconds: list[float]) -> float:
    total = sum(seconds)
    print(f'{title}: {total:.1f} s')
    for name, value in zip(CATEGORIES, seconds, strict=True):
        print(f'  {name:24s} {value:7.1f} s  {100 * value / total:5.1f} %')
    overhead = sum(seconds[3:])
    print(f'  {"overhead (start-ups, rest)":24s} {overhead:7.1f} s  {100 * overhead / total:5.1f} %')
    return overhead / total


CPU_CATEGORIES = (
    'MD integration',
    'other calculator work',
    'job start-up',
    'driver (AiiDA, calcfunctions, imports)',
)


def print_cpu_split(title: str, seconds: list[float]) -> float:
    """Print the CPU seconds of the jobs and of this process; return the overhead share (start-ups, driver)."""
    total = sum(seconds)
    print(f'{title}: {total:.1f} s')
    for name, value in zip(CPU_CATEGORIES, seconds, strict=True):
        print(f'  {name:39s} {value:7.1f} s  {100 * value / total:5.1f} %')
    return (seconds[2] + seconds[3]) / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--md-steps', type=int, default=100, help='MD production steps per run (the demo: 600)')
    parser.add_argument('--equilibration-steps', type=int, default=50, help='MD equilibration steps (the demo: 200)')
    parser.add_argument('--full', action='store_true', help="run the demo's own MD lengths")
    args = parser.parse_args()

    header('demo budget')
    import aiida

    from aiida_superionic.workflows.sse import SseWorkChain

    imported, imported_cpu = time.time(), time.process_time()
    code = make_profile()
    demo = load_demo()
    arguments = ['--plot', '']
    if not args.full:
        arguments += ['--md-steps', str(args.md_steps), '--equilibration-steps', str(args.equilibration_steps)]
    print(
        f'aiida-core {aiida.__version__}; the demo ({DEMO.relative_to(REPOSITORY)} {" ".join(arguments)}), '
        f'code {code.full_label}; driver start-up and imports {imported - PROCESS_START:.1f} s'
    )
    started, run_cpu = time.time(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()) as captured:
        workchain = demo.main(demo.parse_arguments(arguments))
    finished = time.time()
    print(f'SseWorkChain<{workchain.pk}> exit status {workchain.exit_status} in {finished - started:.1f} s')
    if workchain.exit_status != 0:
        print(captured.getvalue()[-2000:])

    driver_cpu = time.process_time() - run_cpu + imported_cpu  # imports, AiiDA bookkeeping, calcfunctions
    spans, jobs, md_loops, job_cpu = intervals(workchain)
    seconds = split(spans, started, finished)
    seconds[4] = imported - PROCESS_START  # what `verdi run` spends before the demo starts
    loop_seconds = [end - start for start, end, *_ in md_loops.values()]
    steps = [count for _, _, count, _ in md_loops.values()]
    loop_cpu = [cpu for *_, cpu in md_loops.values()]
    per_step = sum(loop_seconds) / max(sum(steps), 1)
    startup = [start_up for first, start_up, category in spans if category == 3 for start_up in [start_up - first]]
    print(
        f'{jobs} superionic.ase jobs ({len(md_loops)} MD, {sum(steps)} MD steps, {1000 * per_step:.0f} ms/step wall, '
        f'{1000 * sum(loop_cpu) / max(sum(steps), 1):.0f} ms/step CPU); job start-up (interpreter, imports, model) '
        f'{sum(startup) / max(len(startup), 1):.1f} s wall, {job_cpu[2] / max(jobs, 1):.1f} s CPU per job on average'
    )
    overhead = print_split('wall time, measured', seconds)
    cpu = [*job_cpu, driver_cpu]
    cpu_overhead = print_cpu_split('CPU time, measured', cpu)
    if not args.full:
        md = SseWorkChain.get_protocol_inputs('fast')['md']  # the demo's MD: equilibration + production steps
        demo_steps = int(md['steps']) + int(md['equilibration_steps'])
        scales = [demo_steps / count - 1 for count in steps]
        projected = list(seconds)
        projected[0] += sum(length * scale for length, scale in zip(loop_seconds, scales, strict=True))
        overhead = print_split(f'wall time, projected to the demo ({demo_steps} MD steps per run)', projected)
        cpu[0] += sum(length * scale for length, scale in zip(loop_cpu, scales, strict=True))
        cpu_overhead = print_cpu_split(f'CPU time, projected to the demo ({demo_steps} MD steps per run)', cpu)
    name = 'the demo' if args.full else 'the demo (projected)'
    target(f'overhead share of the wall time of {name}', 100 * overhead, 100 * OVERHEAD_TARGET, ' %')
    target(f'overhead share of the CPU time of {name}', 100 * cpu_overhead, 100 * OVERHEAD_TARGET, ' %')
    footer('demo budget')


if __name__ == '__main__':
    main()
