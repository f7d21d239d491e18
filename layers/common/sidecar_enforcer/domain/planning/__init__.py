"""A revision's plan: task definition + profile + policy -> decision, and the register request
to send; its steps, what any planned request must hold, the plan remembered, and the remedy
a person adds by hand."""
