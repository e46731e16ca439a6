namespace WapBackup.Functions;
