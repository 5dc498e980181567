import sys

from farod.cli import main

sys.exit(main())
