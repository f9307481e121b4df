"""nightcrew: the AI operations agent that runs a business's lead pipeline unsupervised."""

__version__ = "0.1.0"
