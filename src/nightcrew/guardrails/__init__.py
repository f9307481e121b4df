"""Pure policy checks over a draft message: no I/O, only verdicts with reasons.

Entry points (import from the modules; this package imports nothing so the playbook can use its policy):
``pipeline.run_guardrails(draft, context, policy)``, ``context`` (Draft, GuardrailContext, ContactInfo,
SentMessage, Confidence), ``policy`` (PolicySet, GuardrailPolicy, PriceList), ``cases`` (the JSONL format of
the bulk command) and the single checks in their own modules.
"""
