from zhida.cli.main import main

main()
