"""`python -m deepfx` is the same as the `deepfx` command."""

from deepfx.cli.app import main

main()
