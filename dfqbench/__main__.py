from dfqbench.cli import main

main()
