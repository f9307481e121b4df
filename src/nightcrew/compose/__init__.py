"""Message drafting from the playbook's templates and approved facts."""
