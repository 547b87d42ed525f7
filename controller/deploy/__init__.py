"""`ringlab deploy`: the ringlab wheel, the agent's dependency wheels per kind of host,
and the steps on each host over SSH."""
