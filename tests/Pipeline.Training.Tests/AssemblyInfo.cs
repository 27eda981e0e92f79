// libtorch keeps process-wide state (the default generator that dropout and init draw from, thread counts):
// tests that assert bit-exact resume or seeded determinism must not interleave with other torch tests.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
