DROP TABLE chat_messages;
DROP TABLE participants;
DROP TABLE rooms;
DROP TABLE users;
