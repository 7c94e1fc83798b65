"""The k6 load suite's runner: a private local stack and one scenario of ``load/k6`` run
against it."""
