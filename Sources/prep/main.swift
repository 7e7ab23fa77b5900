import RNNPrepTool

PrepCommand.main()
