"""Running a scenario: the pure plan, endpoints, Prepare requests, the orchestrator with
injected agents and clock, clock sync, assembling results, expectations."""
