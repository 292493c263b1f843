from plat.cli import main

main()
