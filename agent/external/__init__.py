"""Engines that are tools the agent runs as processes (DPDK testpmd, PF_RING's tools).

The process handling (start at the scheduled instant, stop on Stop or lease expiry, the
tool never outliving the agent, stdout/stderr tail, counters) is in process.py; each tool
has a module of pure command-line builders and output parsers (testpmd.py, pfring.py).
"""
