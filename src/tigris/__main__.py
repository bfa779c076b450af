from tigris.cli import main

main()
