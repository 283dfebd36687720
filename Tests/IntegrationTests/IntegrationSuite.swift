import Testing

/// Every integration suite is nested here, so that they run one at a time: each starts real
/// server processes, and the machine has 2 cores.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct IntegrationSuite {}
