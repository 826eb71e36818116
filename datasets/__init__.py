"""Built-in dataset plugins: generated WL benchmarks, WL benchmark files and OGB."""
