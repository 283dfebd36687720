# Put first on sys.path by a test: makes `import greenlet` fail as if it were not installed.
raise ImportError('greenlet is hidden by this test fixture')
